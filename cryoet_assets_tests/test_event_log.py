"""The instance folders' event log: Dagster's consolidated SQLite storage with its connections kept open."""

import multiprocessing
import os
import sqlite3

import dagster as dg
import pytest
import sqlalchemy

from cryoet_assets.event_log import PooledSqliteEventLogStorage

parts = dg.DynamicPartitionsDefinition(name="parts")


@dg.asset(partitions_def=parts)
def numbers(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"partition": context.partition_key})


@dg.asset_check(asset=numbers, partitions_def=parts, blocking=True)
def numbers_valid() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


job = dg.define_asset_job("numbers_job", selection=[numbers], partitions_def=parts)
defs = dg.Definitions(assets=[numbers], asset_checks=[numbers_valid], jobs=[job])


@pytest.fixture
def instance(tmp_path):
    overrides = {"event_log_storage": {"module": "cryoet_assets.event_log", "class": "PooledSqliteEventLogStorage",
                                       "config": {"base_dir": str(tmp_path / "runs")}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        yield instance


def _connections_opened(storage) -> list:
    opened = []
    sqlalchemy.event.listen(storage._engines.get(), "connect", lambda *args: opened.append(os.getpid()))
    return opened


def _run(instance, key: str) -> None:
    result = defs.resolve_job_def("numbers_job").execute_in_process(instance=instance, partition_key=key)
    assert result.success


def test_runs_store_and_find_their_events_through_a_few_open_connections(instance, tmp_path):
    opened = _connections_opened(instance.event_log_storage)
    instance.add_dynamic_partitions("parts", ["a", "b", "c"])
    for key in ("a", "b", "c"):
        _run(instance, key)

    records = instance.fetch_materializations(dg.AssetKey("numbers"), limit=10).records
    assert sorted(r.partition_key for r in records) == ["a", "b", "c"]
    assert instance.has_dynamic_partition("parts", "b") and not instance.has_dynamic_partition("parts", "z")
    statuses = {r.partition: r.status.value for r in instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("numbers"), "numbers_valid"), limit=10)}
    assert statuses == {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "SUCCEEDED"}
    # Three runs, each with dozens of events and queries, over the pool's few connections.
    assert 1 <= len(opened) <= 4
    assert [p.name for p in (tmp_path / "runs").iterdir() if p.suffix == ".db"] == ["event_log.db"]


def _child_run(instance, parent_engine, send) -> None:
    try:
        _run(instance, "forked")  # through the instance object it inherited
        storage = instance.event_log_storage
        send.send((storage._engines.get() is not parent_engine,
                   len(instance.fetch_materializations(dg.AssetKey("numbers"), limit=10).records)))
    finally:
        os._exit(0)


def test_a_forked_child_opens_its_own_connections_and_leaves_its_parents_alone(instance):
    storage = instance.event_log_storage
    instance.add_dynamic_partitions("parts", ["parent", "forked"])
    _run(instance, "parent")
    engine = storage._engines.get()

    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child_run, args=(instance, engine, send))
    child.start()
    # The child made an engine of its own, and sees the parent's materialization and its own.
    assert receive.recv() == (True, 2)
    child.join()
    assert child.exitcode == 0

    # The parent's pooled connections still work after the child is gone, and see the child's event.
    _run(instance, "parent")
    assert storage._engines.get() is engine
    records = instance.fetch_materializations(dg.AssetKey("numbers"), limit=10).records
    assert sorted(r.partition_key for r in records) == ["forked", "parent", "parent"]


def test_pooled_connections_to_a_wal_file_sync_at_checkpoints_only(instance):
    storage = instance.event_log_storage
    with storage._engines.get().connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL (SQLite's default: 2, FULL)


def test_a_file_in_another_journal_mode_keeps_sqlites_default_sync(tmp_path):
    # NORMAL is safe from corruption in WAL mode only: a file in rollback-journal mode is left at FULL.
    (tmp_path / "runs").mkdir()
    sqlite3.connect(tmp_path / "runs" / "event_log.db").close()  # an empty file, journal_mode=delete
    storage = PooledSqliteEventLogStorage(base_dir=str(tmp_path / "runs"))
    try:
        with storage._engines.get().connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        storage.dispose()


@pytest.fixture
def postgres_instance(postgres_database):
    from cryoet_assets.postgres_event_log import GuardedPostgresEventLogStorage

    overrides = {"event_log_storage": {"module": "cryoet_assets.postgres_event_log",
                                       "class": "GuardedPostgresEventLogStorage",
                                       "config": {"postgres_url": postgres_database()}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        assert isinstance(instance.event_log_storage, GuardedPostgresEventLogStorage)
        yield instance


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_assets_last_materialization_is_never_replaced_by_an_earlier_one(backend, request):
    instance = request.getfixturevalue("instance" if backend == "sqlite" else "postgres_instance")
    storage = instance.event_log_storage
    instance.add_dynamic_partitions("parts", ["a", "b", "c"])
    key = dg.AssetKey("numbers")
    for partition in ("a", "b"):
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))

    def last() -> tuple[int, str]:
        [record] = instance.get_asset_records([key])
        entry = record.asset_entry.last_materialization_record
        return entry.storage_id, entry.asset_materialization.partition

    earlier, later = instance.fetch_materializations(key, limit=2, ascending=True).records
    assert last() == (later.storage_id, "b")
    # Two runs at once: the run whose event was stored first updates the asset's row last.
    with storage.index_transaction() as conn:
        storage._store_asset_event(conn, earlier.event_log_entry, earlier.storage_id)
    assert last() == (later.storage_id, "b")
    # What a run reading the row records as its inputs' provenance is then no older than its own partition's.
    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition="c"))
    newest = instance.fetch_materializations(key, limit=1).records[0]
    assert last() == (newest.storage_id, "c") and newest.storage_id > later.storage_id
