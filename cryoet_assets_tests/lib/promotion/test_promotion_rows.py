"""Promotion of partition rows from a staging database to a production database, on SQLite and Postgres."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, create_engine

from cryoet_assets.families import migration_locations, table_metadata
from cryoet_assets.families.dataset.rows import dataset_rowset
from cryoet_assets.families.deposition.rows import deposition_rowset
from cryoet_assets.families.run.rows import run_rowset, voxel_spacing_rowset
from cryoet_assets.families.tomogram.rows import tomogram_rowset
from cryoet_assets.lib.db import make_engine, migrate
from cryoet_assets.lib.db.models import Base
from cryoet_assets.lib.db.sync import RowSet, SyncError, apply_rowset
from cryoet_assets.lib.promotion.rows import RowConflictError, RowScope, promote_rows

table_metadata()

S3 = "s3://staging-bucket"
HTTPS = "https://staging.example"
PREFIXES = {"s3://staging-bucket": "s3://prod-bucket", "https://staging.example/": "https://files.example/"}
DATASET_ID = 10001
DEPOSITION_ID = 10000
# The deposition that contributed the denoised tomograms.
OTHER_DEPOSITION = 10301
DATES = {"deposition_date": "2023-04-01", "last_modified_date": "2023-06-01", "release_date": "2023-06-01"}
RUN_TABLES = ("run", "tomogram_voxel_spacing", "tomogram", "tomogram_author")
DATASET = RowScope("dataset", {"id": DATASET_ID}, ("dataset", "dataset_author", "dataset_funding"))

# A tomogram_metadata.json as the tomogram asset writes it; "{run}" is the run's name.
RAW_TOMOGRAM: dict[str, Any] = {
    "authors": [
        {"name": "Irene de Teresa Trueba", "ORCID": "0000-0002-4691-9501", "primary_author_status": True},
        {"name": "Julia Mahamid", "corresponding_author_status": True},
    ],
    "ctf_corrected": True,
    "cross_references": {"publications": "doi:10.1038/s41592-022-01746-2", "related_database_entries": None},
    "dates": DATES,
    "fiducial_alignment_status": "FIDUCIAL",
    "is_visualization_default": True,
    "offset": {"x": 0, "y": 0, "z": 0},
    "processing": "raw",
    "processing_software": None,
    "reconstruction_method": "Weighted back projection",
    "reconstruction_software": "IMOD",
    "tomogram_version": 1,
    "scales": [{"z": 16, "y": 32, "x": 30}, {"z": 8, "y": 16, "x": 15}, {"z": 4, "y": 8, "x": 8}],
    "size": {"z": 16, "y": 32, "x": 30},
    "omezarr_dir": "{run}.zarr",
    "mrc_file": "{run}.mrc",
    "key_photo": {
        "snapshot": "Images/100/key-photo-snapshot.png",
        "thumbnail": "Images/100/key-photo-thumbnail.png",
    },
    "voxel_spacing": 10.0,
    "deposition_id": DEPOSITION_ID,
}
DENOISED_TOMOGRAM: dict[str, Any] = {
    **copy.deepcopy(RAW_TOMOGRAM),
    "authors": [{"name": "Grace Hopper"}],
    "fiducial_alignment_status": "NON_FIDUCIAL",
    "is_visualization_default": False,
    "processing": "denoised",
    "processing_software": "cryoCARE",
    "reconstruction_method": "WBP",
    "key_photo": None,
    "voxel_spacing": 13.48,
    "deposition_id": OTHER_DEPOSITION,
}


def run_scope(name: str) -> RowScope:
    return RowScope("run", {"dataset_id": DATASET_ID, "name": name}, RUN_TABLES)


def deposition_scope(deposition_id: int) -> RowScope:
    return RowScope(
        "deposition", {"id": deposition_id}, ("deposition", "deposition_author", "deposition_type")
    )


def _deposition(deposition_id: int, authors: tuple[str, ...] = ("Julia Mahamid",)) -> RowSet:
    doc = {
        "deposition_identifier": deposition_id,
        "deposition_title": f"Deposition {deposition_id}",
        "deposition_description": "Tomograms of S. pombe lamellae",
        "deposition_types": ["dataset", "tomogram"],
        "dates": DATES,
        "authors": [{"name": name} for name in authors],
        "key_photos": {"snapshot": f"depositions_metadata/{deposition_id}/Images/snapshot.png"},
    }
    return deposition_rowset(doc, s3_prefix=S3, https_prefix=HTTPS)


def _dataset(title: str = "S. pombe cells from Volta Phase Plate", authors: int = 3) -> RowSet:
    doc = {
        "dataset_identifier": DATASET_ID,
        "deposition_id": DEPOSITION_ID,
        "dataset_title": title,
        "dataset_description": "Volta potential phase plate cryo-electron tomography of S. pombe lamellae",
        "organism": {"name": "Schizosaccharomyces pombe 972h-", "taxonomy_id": 284812},
        "dates": DATES,
        "authors": [
            {"name": name} for name in ("Irene de Teresa Trueba", "Sara Goetz", "Julia Mahamid")[:authors]
        ],
        "funding": [
            {"funding_agency_name": "European Research Council (ERC)", "grant_id": "760067"},
            {"funding_agency_name": "EMBL", "grant_id": None},
        ],
        "key_photos": {"snapshot": f"{DATASET_ID}/Images/snapshot.png", "thumbnail": None},
    }
    return dataset_rowset(doc, s3_prefix=S3, https_prefix=HTTPS, file_size=123_456_789)


def _run(name: str, *, denoised: bool = True, mrc_size: int = 61_440) -> RowSet:
    """A run's rows as its assets load them: run, voxel spacings, tomograms and their authors."""
    spacings = (10.0, 13.48) if denoised else (10.0,)
    documents = {}
    file_sizes = {}
    for tomogram_id, template in ((100, RAW_TOMOGRAM), (101, DENOISED_TOMOGRAM)):
        if template is DENOISED_TOMOGRAM and not denoised:
            continue
        folder = f"{DATASET_ID}/{name}/Reconstructions/VoxelSpacing{template['voxel_spacing']:.3f}"
        doc = copy.deepcopy(template)
        doc.update(run_name=name, omezarr_dir=f"{name}.zarr", mrc_file=f"{name}.mrc")
        if doc["key_photo"]:
            doc["key_photo"] = {kind: f"{folder}/{path}" for kind, path in doc["key_photo"].items()}
        documents[f"{folder}/Tomograms/{tomogram_id}/tomogram_metadata.json"] = doc
        file_sizes[f"{folder}/Tomograms/{tomogram_id}/{name}.mrc"] = mrc_size
        file_sizes[f"{folder}/Tomograms/{tomogram_id}/{name}.zarr"] = 70_123
    where = {"dataset_id": DATASET_ID, "run_name": name, "s3_prefix": S3, "https_prefix": HTTPS}
    return (
        run_rowset(**where)
        + voxel_spacing_rowset(**where, voxel_spacings=spacings)
        + tomogram_rowset(
            **where,
            documents=documents,
            file_sizes=file_sizes,
            dataset_deposition_id=DEPOSITION_ID,
            voxel_spacings=spacings,
        )
    )


def _stage(staging: Engine) -> None:
    """Staging as ingestion leaves it, TS_002 loaded first: production alone would number TS_001 otherwise."""
    apply_rowset(staging, _deposition(DEPOSITION_ID) + _deposition(OTHER_DEPOSITION, ("Grace Hopper", "Ada")))
    apply_rowset(staging, _dataset())
    apply_rowset(staging, _run("TS_002"))
    apply_rowset(staging, _run("TS_001"))


def _promote_parents(staging: Engine, production: Engine) -> None:
    for scope in (deposition_scope(DEPOSITION_ID), deposition_scope(OTHER_DEPOSITION), DATASET):
        promote_rows(staging, production, scope, prefixes=PREFIXES)


def _rows(engine: Engine, table: str) -> dict[int, dict[str, Any]]:
    model = Base.metadata.tables[table]
    with engine.connect() as connection:
        return {row["id"]: dict(row) for row in connection.execute(sa.select(model)).mappings()}


def _snapshot(engine: Engine) -> dict[str, dict[int, dict[str, Any]]]:
    return {table.name: _rows(engine, table.name) for table in Base.metadata.sorted_tables}


def _run_rows(engine: Engine, name: str) -> dict[str, dict[int, dict[str, Any]]]:
    """The rows of run `name` and of everything under it, by table."""
    (run_id,) = [i for i, row in _rows(engine, "run").items() if row["name"] == name]
    tomograms = {i: r for i, r in _rows(engine, "tomogram").items() if r["run_id"] == run_id}
    return {
        "run": {run_id: _rows(engine, "run")[run_id]},
        "tomogram_voxel_spacing": {
            i: r for i, r in _rows(engine, "tomogram_voxel_spacing").items() if r["run_id"] == run_id
        },
        "tomogram": tomograms,
        "tomogram_author": {
            i: r for i, r in _rows(engine, "tomogram_author").items() if r["tomogram_id"] in tomograms
        },
    }


def _counts(report, *tables: str) -> dict[str, tuple[int, int, int, int]]:
    """(inserted, updated, unchanged, deleted) of each table."""
    return {
        table: (c.inserted, c.updated, c.unchanged, c.deleted)
        for table in tables
        for c in [report.counts(table)]
    }


@pytest.fixture(scope="module")
def postgres_pair(postgres_database) -> tuple[str, str]:
    """A migrated staging and a migrated production database on the local Postgres server."""
    urls = (postgres_database(), postgres_database())
    for url in urls:
        migrate.upgrade(url, version_locations=migration_locations())
    return urls


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """(staging, production) engines on two empty migrated databases of one backend."""
    if request.param == "sqlite":
        urls = tuple(f"sqlite:///{tmp_path / name}.db" for name in ("staging", "production"))
        for url in urls:
            migrate.upgrade(url, version_locations=migration_locations())
    else:
        urls = request.getfixturevalue("postgres_pair")
    engines = tuple(make_engine(url) for url in urls)
    try:
        yield engines
    finally:
        for engine in engines:
            engine.dispose()
        if request.param == "postgres":
            tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
            for url in urls:
                engine = create_engine(url)
                with engine.begin() as connection:
                    connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                engine.dispose()


def test_first_promotion_copies_the_run_with_staging_ids_and_production_urls(databases) -> None:
    staging, production = databases
    _stage(staging)
    _promote_parents(staging, production)

    report = promote_rows(staging, production, run_scope("TS_001"), prefixes=PREFIXES)

    assert _counts(report, *RUN_TABLES) == {
        "run": (1, 0, 0, 0),
        "tomogram_voxel_spacing": (2, 0, 0, 0),
        "tomogram": (2, 0, 0, 0),
        "tomogram_author": (3, 0, 0, 0),
    }
    staged, promoted = _run_rows(staging, "TS_001"), _run_rows(production, "TS_001")
    assert {t: sorted(rows) for t, rows in promoted.items()} == {
        t: sorted(rows) for t, rows in staged.items()
    }
    assert min(staged["run"]) > 1  # TS_002 came first in staging: an id production would not give by itself
    run_id = next(iter(staged["run"]))
    assert promoted["run"][run_id]["s3_prefix"] == "s3://prod-bucket/10001/TS_001/"
    assert promoted["run"][run_id]["https_prefix"] == "https://files.example/10001/TS_001/"
    raw = next(row for row in promoted["tomogram"].values() if row["processing"] == "raw")
    folder = "10001/TS_001/Reconstructions/VoxelSpacing10.000"
    assert raw["s3_mrc_file"] == f"s3://prod-bucket/{folder}/Tomograms/100/TS_001.mrc"
    assert raw["https_omezarr_dir"] == f"https://files.example/{folder}/Tomograms/100/TS_001.zarr"
    assert raw["key_photo_url"] == f"https://files.example/{folder}/Images/100/key-photo-snapshot.png"
    urls = {
        "s3_prefix",
        "https_prefix",
        "s3_mrc_file",
        "https_mrc_file",
        "s3_omezarr_dir",
        "https_omezarr_dir",
        "key_photo_url",
        "key_photo_thumbnail_url",
    }
    for table, rows in staged.items():
        for row_id, row in rows.items():
            assert {k: v for k, v in promoted[table][row_id].items() if k not in urls} == {
                k: v for k, v in row.items() if k not in urls
            }, f"{table} {row_id}"
    everything = _snapshot(production)
    assert not [
        (table, column, value)
        for table, rows in everything.items()
        for row in rows.values()
        for column, value in row.items()
        if isinstance(value, str) and "staging" in value
    ]
    assert not [row for row in everything["run"].values() if row["name"] == "TS_002"]

    again = promote_rows(staging, production, run_scope("TS_001"), prefixes=PREFIXES)

    assert not again.changed
    assert _counts(again, *RUN_TABLES) == {
        "run": (0, 0, 1, 0),
        "tomogram_voxel_spacing": (0, 0, 2, 0),
        "tomogram": (0, 0, 2, 0),
        "tomogram_author": (0, 0, 3, 0),
    }
    assert _snapshot(production) == everything
    # Production's own numbering continues past the promoted ids (Postgres sequences were moved on).
    apply_rowset(production, _run("TS_009", denoised=False))
    assert min(_run_rows(production, "TS_009")["tomogram"]) > max(promoted["tomogram"])


def test_a_tomogram_removed_in_staging_is_deleted_and_other_runs_are_untouched(databases) -> None:
    staging, production = databases
    _stage(staging)
    _promote_parents(staging, production)
    for name in ("TS_001", "TS_002"):
        promote_rows(staging, production, run_scope(name), prefixes=PREFIXES)
    ts_002 = _run_rows(production, "TS_002")
    apply_rowset(staging, _run("TS_001", denoised=False, mrc_size=62_000))

    report = promote_rows(staging, production, run_scope("TS_001"), prefixes=PREFIXES)

    assert _counts(report, *RUN_TABLES) == {
        "run": (0, 0, 1, 0),
        "tomogram_voxel_spacing": (0, 0, 1, 1),
        "tomogram": (0, 1, 0, 1),
        "tomogram_author": (0, 0, 2, 1),
    }
    promoted = _run_rows(production, "TS_001")
    assert {t: sorted(rows) for t, rows in promoted.items()} == {
        t: sorted(rows) for t, rows in _run_rows(staging, "TS_001").items()
    }
    assert [row["file_size_mrc"] for row in promoted["tomogram"].values()] == [62_000]
    assert _run_rows(production, "TS_002") == ts_002


def test_a_natural_key_under_another_id_is_a_conflict_and_changes_nothing(databases) -> None:
    staging, production = databases
    _stage(staging)
    _promote_parents(staging, production)
    # Production got TS_001 some other way, under the id production numbered it with.
    apply_rowset(production, _run("TS_001", denoised=False))
    (production_id,) = _rows(production, "run")
    (staging_id,) = [i for i, row in _rows(staging, "run").items() if row["name"] == "TS_001"]
    assert production_id != staging_id
    before = _snapshot(production)

    with pytest.raises(RowConflictError) as raised:
        promote_rows(staging, production, run_scope("TS_001"), prefixes=PREFIXES)

    message = str(raised.value)
    assert f"run {{'dataset_id': {DATASET_ID}, 'name': 'TS_001'}} has id {staging_id} in staging" in message
    assert f"under id {production_id}" in message
    assert "nothing was changed" in message
    assert [(c.table, c.staging_id, c.production_id) for c in raised.value.conflicts] == [
        ("run", staging_id, production_id)
    ]
    assert _snapshot(production) == before


def test_a_staging_id_production_gives_to_another_row_is_a_conflict(databases) -> None:
    staging, production = databases
    _stage(staging)
    # Production loaded the other deposition by itself first: its author took the id of the first author.
    apply_rowset(production, _deposition(OTHER_DEPOSITION, ("Ada",)))
    (taken,) = _rows(production, "deposition_author")
    before = _snapshot(production)

    with pytest.raises(RowConflictError) as raised:
        promote_rows(staging, production, deposition_scope(DEPOSITION_ID), prefixes=PREFIXES)

    conflicts = {(c.table, c.staging_id): c for c in raised.value.conflicts}
    # Its deposition types took ids 1 and 2 as well.
    assert sorted(conflicts) == [("deposition_author", taken), ("deposition_type", 1), ("deposition_type", 2)]
    conflict = conflicts["deposition_author", taken]
    assert conflict.production_id == taken
    assert dict(conflict.production_key) == {"deposition_id": OTHER_DEPOSITION, "name": "Ada"}
    assert "outside the scope" in str(raised.value)
    assert _snapshot(production) == before


def test_a_parent_missing_in_production_is_named(databases) -> None:
    staging, production = databases
    _stage(staging)

    with pytest.raises(SyncError, match="^dataset 10001 is not in the production database; promote it first"):
        promote_rows(staging, production, run_scope("TS_001"), prefixes=PREFIXES)
    promote_rows(staging, production, deposition_scope(DEPOSITION_ID), prefixes=PREFIXES)
    promote_rows(staging, production, DATASET, prefixes=PREFIXES)
    with pytest.raises(
        SyncError,
        match=f"^deposition {OTHER_DEPOSITION} is not in the production database; "
        r"promote it first \(tomogram.deposition_id of run",
    ):
        promote_rows(staging, production, run_scope("TS_001"), prefixes=PREFIXES)

    assert _rows(production, "run") == {}


def test_a_dry_run_reports_the_same_and_changes_nothing(databases) -> None:
    staging, production = databases
    _stage(staging)
    _promote_parents(staging, production)
    before = _snapshot(production)

    dry = promote_rows(staging, production, run_scope("TS_001"), prefixes=PREFIXES, dry_run=True)

    assert _snapshot(production) == before
    assert dry.counts("tomogram_author").inserted == 3
    assert (
        dry.as_dict() == promote_rows(staging, production, run_scope("TS_001"), prefixes=PREFIXES).as_dict()
    )
    assert _snapshot(production) != before


def test_a_dataset_promotion_updates_the_dataset_and_leaves_its_runs(databases) -> None:
    staging, production = databases
    _stage(staging)
    _promote_parents(staging, production)
    promote_rows(staging, production, run_scope("TS_001"), prefixes=PREFIXES)
    runs = {table: _rows(production, table) for table in RUN_TABLES}
    apply_rowset(staging, _dataset(title="S. pombe lamellae", authors=2))

    report = promote_rows(staging, production, DATASET, prefixes=PREFIXES)

    assert report.as_dict() == {
        "dataset": {"inserted": 0, "updated": 1, "unchanged": 0, "deleted": 0},
        "dataset_author": {"inserted": 0, "updated": 0, "unchanged": 2, "deleted": 1},
        "dataset_funding": {"inserted": 0, "updated": 0, "unchanged": 2, "deleted": 0},
    }
    assert _rows(production, "dataset")[DATASET_ID]["title"] == "S. pombe lamellae"
    assert _rows(production, "dataset")[DATASET_ID]["s3_prefix"] == "s3://prod-bucket/10001/"
    assert {table: _rows(production, table) for table in RUN_TABLES} == runs


def test_a_deposition_gone_from_staging_is_deleted_with_what_cascades(databases) -> None:
    staging, production = databases
    _stage(staging)
    _promote_parents(staging, production)
    report = promote_rows(staging, production, deposition_scope(OTHER_DEPOSITION), prefixes=PREFIXES)
    assert report.changed is False
    assert _rows(production, "deposition")[OTHER_DEPOSITION]["key_photo_url"] == (
        f"https://files.example/depositions_metadata/{OTHER_DEPOSITION}/Images/snapshot.png"
    )
    assert _counts(report, "deposition_author", "deposition_type") == {
        "deposition_author": (0, 0, 2, 0),
        "deposition_type": (0, 0, 2, 0),
    }
    promote_rows(staging, production, run_scope("TS_001"), prefixes=PREFIXES)
    with staging.begin() as connection:
        connection.execute(
            sa.delete(Base.metadata.tables["deposition"]).where(sa.column("id") == OTHER_DEPOSITION)
        )

    report = promote_rows(staging, production, deposition_scope(OTHER_DEPOSITION), prefixes=PREFIXES)

    # Its denoised tomogram of TS_001 (and that one's author) go with it, as in staging.
    assert _counts(
        report, "deposition", "deposition_author", "deposition_type", "tomogram", "tomogram_author"
    ) == {
        "deposition": (0, 0, 0, 1),
        "deposition_author": (0, 0, 0, 2),
        "deposition_type": (0, 0, 0, 2),
        "tomogram": (0, 0, 0, 1),
        "tomogram_author": (0, 0, 0, 1),
    }
    assert OTHER_DEPOSITION not in _rows(production, "deposition")
    assert [row["processing"] for row in _rows(production, "tomogram").values()] == ["raw"]
    again = promote_rows(staging, production, run_scope("TS_001"), prefixes=PREFIXES)
    assert not again.changed


def test_the_longest_prefix_wins_and_a_scope_must_hang_together(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    migrate.upgrade(url, version_locations=migration_locations())
    staging = make_engine(url)
    production_url = f"sqlite:///{tmp_path / 'production.db'}"
    migrate.upgrade(production_url, version_locations=migration_locations())
    production = make_engine(production_url)
    apply_rowset(staging, _deposition(DEPOSITION_ID))
    prefixes = {**PREFIXES, "https://staging.example/depositions_metadata/": "https://depositions.example/"}

    promote_rows(staging, production, deposition_scope(DEPOSITION_ID), prefixes=prefixes)

    assert _rows(production, "deposition")[DEPOSITION_ID]["key_photo_url"] == (
        f"https://depositions.example/{DEPOSITION_ID}/Images/snapshot.png"
    )
    with pytest.raises(
        ValueError, match="dataset_author of scope deposition where id=10000 has no foreign key"
    ):
        promote_rows(
            staging,
            production,
            RowScope("deposition", {"id": DEPOSITION_ID}, ("deposition", "dataset_author")),
        )
    assert {run_scope("TS_001"), run_scope("TS_001"), run_scope("TS_002")} == {
        run_scope("TS_002"),
        run_scope("TS_001"),
    }
    with pytest.raises(ValueError, match="needs a root column"):
        RowScope("deposition", {}, ("deposition",))
    staging.dispose()
    production.dispose()
