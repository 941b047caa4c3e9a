"""The embedded instance's run and schedule storages: Dagster's SQLite files, through connections kept open."""

import shutil
from pathlib import Path

import dagster as dg
import sqlalchemy

from cryoet_assets.sqlite_storage import PooledSqliteRunStorage, PooledSqliteScheduleStorage

ROOT_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"


@dg.op
def one() -> int:
    return 1


@dg.job
def tiny():
    one()


def _open(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home))


def test_the_root_instance_keeps_runs_and_ticks_in_dagsters_files_over_a_few_open_connections(tmp_path):
    shutil.copy(ROOT_YAML, tmp_path / "dagster.yaml")
    with _open(tmp_path) as instance:
        assert isinstance(instance.run_storage, PooledSqliteRunStorage)
        assert isinstance(instance.schedule_storage, PooledSqliteScheduleStorage)
        opened = []
        for storage in (instance.run_storage, instance.schedule_storage):
            sqlalchemy.event.listen(storage._pool.get(), "connect", lambda *args, s=storage: opened.append(s))
        runs = [tiny.execute_in_process(instance=instance).run_id for _ in range(3)]
        instance.run_storage.set_cursor_values({"a": "1", "b": "2"})
        assert instance.run_storage.get_cursor_values({"a", "b", "c"}) == {"a": "1", "b": "2"}
        state = _sensor_state()
        instance.schedule_storage.add_instigator_state(state)
        assert instance.schedule_storage.get_instigator_state(state.instigator_origin_id, state.selector_id)

        assert {r.dagster_run.run_id for r in instance.get_run_records()} == set(runs)
        assert all(instance.get_run_by_id(run).is_success for run in runs)
        # Three runs' dozens of calls over the pools' few connections (Dagster's storages: one per call).
        assert opened.count(instance.run_storage) <= 4 and opened.count(instance.schedule_storage) <= 4
        with instance.run_storage._pool.get().connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL, the file being in WAL mode
    assert (tmp_path / "history" / "runs.db").is_file() and (tmp_path / "schedules" / "schedules.db").is_file()


def _sensor_state():
    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteInstigatorOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.scheduler.instigation import InstigatorState, InstigatorStatus, InstigatorType
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=__file__))
    origin = RemoteInstigatorOrigin(RemoteRepositoryOrigin(location, "repo"), "a_sensor")
    return InstigatorState(origin, InstigatorType.SENSOR, InstigatorStatus.RUNNING)


def test_an_instance_made_with_dagsters_default_storages_keeps_its_history(tmp_path):
    (tmp_path / "dagster.yaml").write_text("")
    with _open(tmp_path) as before:
        assert type(before.run_storage).__name__ == "SqliteRunStorage"
        old = tiny.execute_in_process(instance=before).run_id
        before.run_storage.set_cursor_values({"cursor": "kept"})
    shutil.copy(ROOT_YAML, tmp_path / "dagster.yaml")
    with _open(tmp_path) as after:
        assert isinstance(after.run_storage, PooledSqliteRunStorage)
        assert after.get_run_by_id(old).is_success
        assert after.run_storage.get_cursor_values({"cursor"}) == {"cursor": "kept"}
        new = tiny.execute_in_process(instance=after).run_id
        assert {r.dagster_run.run_id for r in after.get_run_records()} == {old, new}


def _dispose_in_child(pool, send) -> None:
    import os

    from cryoet_assets import sqlite_storage

    try:
        inherited = pool._engine
        pool.dispose()  # the lock it inherited was held by the parent when it forked
        with pool.transaction() as conn:  # a connection of its own
            value = conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
        send.send((any(e is inherited for e in sqlite_storage._INHERITED), value))
    finally:
        os._exit(0)


def test_a_forked_child_disposing_leaves_its_parents_engine_alone_even_if_the_lock_was_held(tmp_path):
    import multiprocessing

    from cryoet_assets.sqlite_storage import PooledEngine

    pool = PooledEngine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with pool.transaction() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    engine = pool.get()
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    with pool._lock:  # as if another thread of this process held it at the fork
        child = context.Process(target=_dispose_in_child, args=(pool, send))
        child.start()
    assert receive.poll(60), "the child hung on the lock it inherited"
    assert receive.recv() == (True, 1)  # the parent's engine kept referenced, not disposed; its own works
    child.join()
    with pool.transaction() as conn:  # the parent's pooled connections still work
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
    assert pool.get() is engine
    pool.dispose()
