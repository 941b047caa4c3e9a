from __future__ import annotations

import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from cryoet_assets.lib.db.models import Base
from cryoet_assets.lib.db.sync import Prune, Ref, Row, RowSet, SyncError, apply_rowset

DAY = datetime.datetime(2023, 6, 1, tzinfo=datetime.UTC)


def _deposition(**changes: Any) -> Row:
    values = {
        "id": 10000,
        "title": "Deposition",
        "description": "About it",
        "deposition_date": DAY,
        "release_date": DAY,
        "last_modified_date": DAY,
    }
    return Row("deposition", {**values, **changes})


def _dataset(dataset_id: int, **changes: Any) -> Row:
    values = {
        "id": dataset_id,
        "deposition_id": 10000,
        "title": f"Dataset {dataset_id}",
        "description": "Cells",
        "deposition_date": DAY,
        "release_date": DAY,
        "last_modified_date": DAY,
        "s3_prefix": f"s3://bucket/{dataset_id}/",
        "https_prefix": f"https://files.example.org/{dataset_id}/",
        "file_size": 1234.0,
    }
    return Row("dataset", {**values, **changes})


def _author(dataset_id: int, name: str, order: int, **changes: Any) -> Row:
    values = {"dataset_id": dataset_id, "name": name, "author_list_order": order}
    return Row("dataset_author", {**values, **changes})


def _dataset_rowset(dataset_id: int, authors: list[str], **changes: Any) -> RowSet:
    rows = [_dataset(dataset_id, **changes)]
    rows += [_author(dataset_id, name, i + 1) for i, name in enumerate(authors)]
    rows += [
        Row(
            "dataset_funding", {"dataset_id": dataset_id, "funding_agency_name": "ERC", "grant_id": "760067"}
        ),
        Row("dataset_funding", {"dataset_id": dataset_id, "funding_agency_name": "EMBL", "grant_id": None}),
    ]
    scope = {"dataset_id": dataset_id}
    return RowSet(rows=rows, prunes=[Prune("dataset_author", scope), Prune("dataset_funding", scope)])


def _run_rowset(dataset_id: int, name: str, spacings: list[float]) -> RowSet:
    run_ref = Ref("run", {"dataset_id": dataset_id, "name": name})
    rows = [
        Row(
            "run",
            {
                "dataset_id": dataset_id,
                "name": name,
                "s3_prefix": f"s3://bucket/{dataset_id}/{name}/",
                "https_prefix": f"https://files.example.org/{dataset_id}/{name}/",
            },
        )
    ]
    rows += [
        Row(
            "tomogram_voxel_spacing",
            {
                "run_id": run_ref,
                "voxel_spacing": vs,
                "s3_prefix": f"s3://vs/{vs}/",
                "https_prefix": f"https://vs/{vs}/",
            },
        )
        for vs in spacings
    ]
    return RowSet(rows=rows, prunes=[Prune("tomogram_voxel_spacing", {"run_id": run_ref})])


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every portal table, in primary key order."""
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(r) for r in connection.execute(sa.select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


def ids(engine: Engine, table: str, *columns: str) -> dict[tuple, int]:
    """Natural key (given columns) -> id of every row of `table`."""
    t = Base.metadata.tables[table]
    with engine.connect() as connection:
        rows = connection.execute(sa.select(t.c.id, *(t.c[c] for c in columns))).all()
    return {tuple(r[1:]): r[0] for r in rows}


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    report = apply_rowset(
        engine,
        RowSet(rows=[_deposition()])
        + _dataset_rowset(10001, ["Ann", "Bob", "Cy"])
        + _dataset_rowset(10002, ["Ann", "Dee"])
        + _run_rowset(10001, "TS_026", [13.48, 7.0])
        + _run_rowset(10002, "TS_026", [13.48]),
    )
    assert report.counts("dataset_author").inserted == 5
    assert report.counts("tomogram_voxel_spacing").inserted == 3
    return engine


def test_reapplying_the_same_rowset_changes_nothing(seeded: Engine) -> None:
    before = snapshot(seeded)
    report = apply_rowset(
        seeded, _dataset_rowset(10001, ["Ann", "Bob", "Cy"]) + _run_rowset(10001, "TS_026", [13.48, 7.0])
    )
    assert snapshot(seeded) == before
    assert not report.changed
    assert report.as_dict() == {
        "dataset": {"inserted": 0, "updated": 0, "unchanged": 1, "deleted": 0},
        "dataset_author": {"inserted": 0, "updated": 0, "unchanged": 3, "deleted": 0},
        "dataset_funding": {"inserted": 0, "updated": 0, "unchanged": 2, "deleted": 0},
        "run": {"inserted": 0, "updated": 0, "unchanged": 1, "deleted": 0},
        "tomogram_voxel_spacing": {"inserted": 0, "updated": 0, "unchanged": 2, "deleted": 0},
    }


def test_a_changed_field_is_updated_in_place(seeded: Engine) -> None:
    author_ids = ids(seeded, "dataset_author", "dataset_id", "name")
    later = datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)
    changed = _dataset_rowset(10001, ["Ann", "Bob", "Cy"], title="Renamed", last_modified_date=later)
    changed.rows[2] = _author(10001, "Bob", 2, email="bob@example.org")

    report = apply_rowset(seeded, changed)

    assert report.counts("dataset").updated == 1
    assert report.counts("dataset_author").updated == 1
    assert report.counts("dataset_author").unchanged == 2
    assert ids(seeded, "dataset_author", "dataset_id", "name") == author_ids
    table = Base.metadata.tables["dataset"]
    with seeded.connect() as connection:
        title, modified = connection.execute(
            sa.select(table.c.title, table.c.last_modified_date).where(table.c.id == 10001)
        ).one()
        other_title = connection.execute(sa.select(table.c.title).where(table.c.id == 10002)).scalar_one()
    assert title == "Renamed"
    assert modified.replace(tzinfo=None) == later.replace(tzinfo=None)
    assert other_title == "Dataset 10002"


def test_timestamps_in_another_zone_are_the_same_instant(seeded: Engine) -> None:
    elsewhere = DAY.astimezone(datetime.timezone(datetime.timedelta(hours=-7)))
    report = apply_rowset(seeded, RowSet(rows=[_deposition(release_date=elsewhere)]))
    assert report.counts("deposition").unchanged == 1


def test_removed_author_and_voxel_spacing_are_deleted_only_in_their_scope(seeded: Engine) -> None:
    author_ids = ids(seeded, "dataset_author", "dataset_id", "name")
    vs_before = ids(seeded, "tomogram_voxel_spacing", "run_id", "voxel_spacing")
    run_ids = ids(seeded, "run", "dataset_id", "name")

    report = apply_rowset(
        seeded, _dataset_rowset(10001, ["Ann", "Cy"]) + _run_rowset(10001, "TS_026", [13.48])
    )

    assert report.counts("dataset_author").deleted == 1
    assert report.counts("tomogram_voxel_spacing").deleted == 1
    after = ids(seeded, "dataset_author", "dataset_id", "name")
    assert (10001, "Bob") not in after
    assert after == {k: v for k, v in author_ids.items() if k != (10001, "Bob")}
    vs_after = ids(seeded, "tomogram_voxel_spacing", "run_id", "voxel_spacing")
    gone = (run_ids[(10001, "TS_026")], 7.0)
    assert vs_after == {k: v for k, v in vs_before.items() if k != gone}
    assert (run_ids[(10002, "TS_026")], 13.48) in vs_after


def test_refs_resolve_to_the_run_of_the_right_dataset(seeded: Engine) -> None:
    run_ids = ids(seeded, "run", "dataset_id", "name")
    assert run_ids[(10001, "TS_026")] != run_ids[(10002, "TS_026")]
    vs = ids(seeded, "tomogram_voxel_spacing", "run_id", "voxel_spacing")
    assert set(vs) == {
        (run_ids[(10001, "TS_026")], 13.48),
        (run_ids[(10001, "TS_026")], 7.0),
        (run_ids[(10002, "TS_026")], 13.48),
    }


def test_a_ref_to_a_missing_row_fails_and_writes_nothing(seeded: Engine) -> None:
    before = snapshot(seeded)
    bad = _dataset_rowset(10001, ["Ann", "Bob", "Cy", "Eve"]) + _run_rowset(10001, "TS_999", [5.0])
    bad.rows.pop(len(bad.rows) - 2)  # drop the TS_999 run row: its voxel spacing's Ref now points nowhere
    with pytest.raises(SyncError) as caught:
        apply_rowset(seeded, bad)
    message = str(caught.value)
    assert "tomogram_voxel_spacing" in message and "TS_999" in message and "matches no row" in message
    assert snapshot(seeded) == before


def test_a_failing_row_rolls_back_everything(seeded: Engine) -> None:
    before = snapshot(seeded)
    rowset = _dataset_rowset(10001, ["Ann", "Cy", "Eve"], title="Changed") + _run_rowset(
        10001, "TS_027", [4.0]
    )
    rowset.rows.append(_author(10002, "Zed", 3, author_list_order=None))  # NOT NULL violated, last row
    with pytest.raises(SyncError) as caught:
        apply_rowset(seeded, rowset)
    assert "dataset_author" in str(caught.value) and "'Zed'" in str(caught.value)
    assert isinstance(caught.value.__cause__, sa.exc.IntegrityError)
    assert snapshot(seeded) == before


def test_funding_with_a_null_grant_matches_itself(seeded: Engine) -> None:
    funding = ids(seeded, "dataset_funding", "dataset_id", "funding_agency_name", "grant_id")
    assert (10001, "EMBL", None) in funding
    apply_rowset(seeded, _dataset_rowset(10001, ["Ann", "Bob", "Cy"]))
    assert ids(seeded, "dataset_funding", "dataset_id", "funding_agency_name", "grant_id") == funding


def test_prune_with_keep_deletes_gone_runs_and_their_voxel_spacings(seeded: Engine) -> None:
    apply_rowset(seeded, _run_rowset(10001, "TS_030", [10.0]))
    run_ids = ids(seeded, "run", "dataset_id", "name")
    rowset = RowSet(
        prunes=[Prune("run", {"dataset_id": 10001}, keep=({"dataset_id": 10001, "name": "TS_030"},))]
    )

    report = apply_rowset(seeded, rowset)

    assert report.counts("run").deleted == 1
    assert ids(seeded, "run", "dataset_id", "name") == {
        (10001, "TS_030"): run_ids[(10001, "TS_030")],
        (10002, "TS_026"): run_ids[(10002, "TS_026")],
    }
    remaining_runs = {
        run_id for run_id, _ in ids(seeded, "tomogram_voxel_spacing", "run_id", "voxel_spacing")
    }
    assert remaining_runs == {run_ids[(10001, "TS_030")], run_ids[(10002, "TS_026")]}


def test_prune_under_a_missing_parent_deletes_nothing(seeded: Engine) -> None:
    before = snapshot(seeded)
    report = apply_rowset(
        seeded,
        RowSet(
            prunes=[Prune("tomogram_voxel_spacing", {"run_id": Ref("run", {"dataset_id": 1, "name": "x"})})]
        ),
    )
    assert report.counts("tomogram_voxel_spacing").deleted == 0
    assert snapshot(seeded) == before


def test_bad_rows_are_rejected_with_the_table_named(engine: Engine) -> None:
    with pytest.raises(SyncError, match=r"run .*no_such_column"):
        apply_rowset(engine, RowSet(rows=[Row("run", {"dataset_id": 1, "name": "a", "no_such_column": 1})]))
    with pytest.raises(SyncError, match=r"lacks natural key columns \['name'\]"):
        apply_rowset(engine, RowSet(rows=[Row("run", {"dataset_id": 1})]))
    with pytest.raises(SyncError, match="unknown table 'nope'"):
        apply_rowset(engine, RowSet(rows=[Row("nope", {"id": 1})]))
    with pytest.raises(SyncError, match=r"dataset \{'id': 10001\}"):
        apply_rowset(engine, RowSet(rows=[_dataset(10001)]))  # its deposition does not exist


def test_deleting_a_deposition_cascades_to_everything_below(seeded: Engine) -> None:
    with seeded.begin() as connection:
        connection.execute(sa.delete(Base.metadata.tables["deposition"]))
    assert all(rows == [] for rows in snapshot(seeded).values())


def test_a_plain_sqlite_engine_still_gets_foreign_keys_and_rollback(tmp_path) -> None:
    from cryoet_assets.families import migration_locations
    from cryoet_assets.lib.db import migrate

    url = f"sqlite:///{tmp_path / 'plain.db'}"
    migrate.upgrade(url, version_locations=migration_locations())
    engine = sa.create_engine(url)  # not made by make_engine: no connect hooks
    try:
        apply_rowset(
            engine, RowSet(rows=[_deposition(), _dataset(10001)]) + _run_rowset(10001, "TS_026", [1.0])
        )
        before = snapshot(engine)
        with pytest.raises(SyncError, match="FOREIGN KEY constraint failed"):
            apply_rowset(
                engine, RowSet(rows=[_dataset(10001, title="New"), _dataset(10002, deposition_id=1)])
            )
        assert snapshot(engine) == before

        apply_rowset(engine, RowSet(prunes=[Prune("run", {"dataset_id": 10001})]))
        assert snapshot(engine)["tomogram_voxel_spacing"] == []
    finally:
        engine.dispose()


def test_natural_keys_are_read_from_the_table_models() -> None:
    from cryoet_assets.lib.db.sync import natural_key

    assert natural_key("run") == ("dataset_id", "name")
    assert natural_key("tomogram_voxel_spacing") == ("run_id", "voxel_spacing")
    with pytest.raises(ValueError, match="unknown table 'no_such_table'"):
        natural_key("no_such_table")


def _sync_runs_in_a_process(url: str, first: int, count: int) -> None:
    from cryoet_assets.families import table_metadata
    from cryoet_assets.lib.db import make_engine

    table_metadata()
    engine = make_engine(url)
    for index in range(first, first + count):
        apply_rowset(engine, _run_rowset(10001, f"TS_{index:03d}", [13.48, 7.0]))
    engine.dispose()


def test_processes_syncing_one_sqlite_file_at_once_all_succeed(tmp_path) -> None:
    """Runs executed in parallel each write their rows into the one embedded SQLite portal database."""
    import multiprocessing

    from cryoet_assets.families import migration_locations
    from cryoet_assets.lib.db import make_engine, migrate

    url = f"sqlite:///{tmp_path / 'portal.db'}"
    migrate.upgrade(url, version_locations=migration_locations())
    engine = make_engine(url)
    apply_rowset(engine, RowSet(rows=[_deposition(), _dataset(10001)]))
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_sync_runs_in_a_process, args=(url, 25 * i, 25)) for i in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0, 0, 0]
    assert len(ids(engine, "run", "name")) == 100
    assert len(ids(engine, "tomogram_voxel_spacing", "run_id", "voxel_spacing")) == 200
    engine.dispose()
