from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from cryoet_assets.families import migration_locations
from cryoet_assets.families.dataset.rows import dataset_rowset
from cryoet_assets.families.deposition.rows import deposition_rowset
from cryoet_assets.families.run.rows import run_rowset, voxel_spacing_rowset
from cryoet_assets.families.tomogram.rows import tomogram_rowset
from cryoet_assets.lib.db import make_engine, migrate
from cryoet_assets.lib.db.models import Base
from cryoet_assets.lib.db.rows import MetadataError
from cryoet_assets.lib.db.sync import Prune, Ref, RowSet, apply_rowset

S3 = "s3://cryoet-data-portal-staging"
HTTPS = "https://files.cryoet.example.org"
UTC = datetime.UTC
DATASET_ID = 20999
RUN = "TS_001"
DATASET_DEPOSITION = 10999
OTHER_DEPOSITION = 11000
VS10 = f"{DATASET_ID}/{RUN}/Reconstructions/VoxelSpacing10.000"
VS13 = f"{DATASET_ID}/{RUN}/Reconstructions/VoxelSpacing13.480"
DOC_100 = f"{VS10}/Tomograms/100/tomogram_metadata.json"
DOC_101 = f"{VS13}/Tomograms/101/tomogram_metadata.json"
DATES = {"deposition_date": "2026-01-01", "last_modified_date": "2026-02-01", "release_date": "2026-03-01"}

# A tomogram_metadata.json as the tomogram asset writes it.
TOMOGRAM_100: dict[str, Any] = {
    "affine_transformation_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
    "align_software": "IMOD",
    "authors": [
        {"name": "Ada Lovelace", "ORCID": "0000-0002-1825-0097", "primary_author_status": True},
        {"name": "Alan Turing", "corresponding_author_status": True},
    ],
    "ctf_corrected": True,
    "cross_references": {"publications": "doi:10.1000/xyz", "related_database_entries": "EMD-1234"},
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
    "omezarr_dir": "TS_001.zarr",
    "mrc_file": "TS_001.mrc",
    "run_name": RUN,
    "key_photo": {
        "snapshot": f"{VS10}/Images/100/key-photo-snapshot.png",
        "thumbnail": f"{VS10}/Images/100/key-photo-thumbnail.png",
    },
    "voxel_spacing": 10.0,
    "alignment_metadata_path": None,
    "neuroglancer_config_path": f"{VS10}/NeuroglancerPrecompute/100-neuroglancer_config.json",
    "deposition_id": DATASET_DEPOSITION,
    "last_updated_at": 1790000000,
}
# A denoised tomogram contributed later by another deposition, at another voxel spacing.
TOMOGRAM_101: dict[str, Any] = {
    **copy.deepcopy(TOMOGRAM_100),
    "authors": [{"name": "Grace Hopper"}],
    "cross_references": None,
    "fiducial_alignment_status": "NON_FIDUCIAL",
    "is_standardized": True,
    "is_visualization_default": False,
    "offset": {"x": 2, "y": -3, "z": 4},
    "processing": "denoised",
    "processing_software": "cryoCARE",
    "reconstruction_method": "WBP",
    "key_photo": None,
    "voxel_spacing": 13.48,
    "deposition_id": OTHER_DEPOSITION,
}
FILE_SIZES = {f"{VS10}/Tomograms/100/TS_001.mrc": 61_440, f"{VS10}/Tomograms/100/TS_001.zarr": 70_123}
NEUROGLANCER = {DOC_100: '{\n  "layers": [ {"name": "TS_001", "type": "image"} ]\n}'}


def _tomograms(documents: dict[str, dict[str, Any]], spacings: tuple[float, ...] = (10.0, 13.48)) -> RowSet:
    return tomogram_rowset(
        dataset_id=DATASET_ID,
        run_name=RUN,
        documents=documents,
        file_sizes=FILE_SIZES,
        dataset_deposition_id=DATASET_DEPOSITION,
        voxel_spacings=spacings,
        s3_prefix=S3,
        https_prefix=HTTPS,
        neuroglancer_configs=NEUROGLANCER,
    )


def _deposition(deposition_id: int) -> RowSet:
    doc = {
        "deposition_identifier": deposition_id,
        "deposition_title": f"Deposition {deposition_id}",
        "deposition_description": "Tomograms",
        "deposition_types": ["dataset", "tomogram"],
        "dates": DATES,
        "authors": [{"name": "Ada Lovelace"}],
    }
    return deposition_rowset(doc, s3_prefix=S3, https_prefix=HTTPS)


def _parents(spacings: tuple[float, ...] = (10.0, 13.48)) -> RowSet:
    dataset = {
        "dataset_identifier": DATASET_ID,
        "deposition_id": DATASET_DEPOSITION,
        "dataset_title": "Synthetic cells",
        "dataset_description": "Cells",
        "dates": DATES,
        "authors": [{"name": "Ada Lovelace"}],
    }
    rowset = _deposition(DATASET_DEPOSITION) + _deposition(OTHER_DEPOSITION)
    rowset += dataset_rowset(dataset, s3_prefix=S3, https_prefix=HTTPS, file_size=None)
    rowset += run_rowset(dataset_id=DATASET_ID, run_name=RUN, s3_prefix=S3, https_prefix=HTTPS)
    return rowset + voxel_spacing_rowset(
        dataset_id=DATASET_ID, run_name=RUN, voxel_spacings=spacings, s3_prefix=S3, https_prefix=HTTPS
    )


def _rows(rowset: RowSet, table: str) -> list[dict[str, Any]]:
    return [dict(row.values) for row in rowset.rows if row.table == table]


def _stored(engine: Engine, table: str) -> list[dict[str, Any]]:
    model = Base.metadata.tables[table]
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(sa.select(model).order_by(model.c.id)).mappings()]


def _authors_by_tomogram(engine: Engine) -> dict[int, list[tuple[int, str]]]:
    found: dict[int, list[tuple[int, str]]] = {}
    for author in _stored(engine, "tomogram_author"):
        found.setdefault(author["tomogram_id"], []).append((author["author_list_order"], author["name"]))
    return {tomogram: sorted(authors) for tomogram, authors in found.items()}


def _raises(message: str):
    return pytest.raises(MetadataError, match=message.replace("[", r"\[").replace("]", r"\]"))


def test_tomogram_rowset_maps_the_document() -> None:
    rowset = _tomograms({DOC_100: TOMOGRAM_100})

    run_ref = Ref("run", {"dataset_id": DATASET_ID, "name": RUN})
    vs10_ref = Ref("tomogram_voxel_spacing", {"run_id": run_ref, "voxel_spacing": 10.0})
    vs13_ref = Ref("tomogram_voxel_spacing", {"run_id": run_ref, "voxel_spacing": 13.48})
    (tomogram,) = _rows(rowset, "tomogram")
    assert tomogram == {
        "deposition_id": DATASET_DEPOSITION,
        "name": RUN,
        "size_x": 30,
        "size_y": 32,
        "size_z": 16,
        "voxel_spacing": 10.0,
        "fiducial_alignment_status": "FIDUCIAL",
        "reconstruction_method": "Weighted_back_projection",
        "processing": "raw",
        "tomogram_version": 1.0,
        "processing_software": None,
        "reconstruction_software": "IMOD",
        "is_portal_standard": False,
        "is_author_submitted": True,
        "is_visualization_default": True,
        "s3_omezarr_dir": f"{S3}/{VS10}/Tomograms/100/TS_001.zarr",
        "https_omezarr_dir": f"{HTTPS}/{VS10}/Tomograms/100/TS_001.zarr",
        "file_size_omezarr": 70_123,
        "s3_mrc_file": f"{S3}/{VS10}/Tomograms/100/TS_001.mrc",
        "https_mrc_file": f"{HTTPS}/{VS10}/Tomograms/100/TS_001.mrc",
        "file_size_mrc": 61_440,
        "scale0_dimensions": "30,32,16",
        "scale1_dimensions": "15,16,8",
        "scale2_dimensions": "8,8,4",
        "ctf_corrected": True,
        "offset_x": 0,
        "offset_y": 0,
        "offset_z": 0,
        "key_photo_url": f"{HTTPS}/{VS10}/Images/100/key-photo-snapshot.png",
        "key_photo_thumbnail_url": f"{HTTPS}/{VS10}/Images/100/key-photo-thumbnail.png",
        "neuroglancer_config": '{"layers":[{"name":"TS_001","type":"image"}]}',
        "publications": "doi:10.1000/xyz",
        "related_database_entries": "EMD-1234",
        "deposition_date": datetime.datetime(2026, 1, 1, tzinfo=UTC),
        "release_date": datetime.datetime(2026, 3, 1, tzinfo=UTC),
        "last_modified_date": datetime.datetime(2026, 2, 1, tzinfo=UTC),
        "run_id": run_ref,
        "tomogram_voxel_spacing_id": vs10_ref,
    }
    # Every column but the key and the alignment (no alignment table yet) comes from the document.
    assert set(tomogram) == set(Base.metadata.tables["tomogram"].c.keys()) - {"id", "alignment_id"}

    tomogram_ref = Ref(
        "tomogram",
        {
            "deposition_id": DATASET_DEPOSITION,
            "processing": "raw",
            "processing_software": None,
            "reconstruction_method": "Weighted_back_projection",
            "run_id": run_ref,
            "tomogram_voxel_spacing_id": vs10_ref,
        },
    )
    authors = _rows(rowset, "tomogram_author")
    assert [(a["tomogram_id"], a["author_list_order"], a["name"]) for a in authors] == [
        (tomogram_ref, 1, "Ada Lovelace"),
        (tomogram_ref, 2, "Alan Turing"),
    ]
    assert authors[0]["orcid"] == "0000-0002-1825-0097"
    assert authors[0]["primary_author_status"] is True
    assert authors[1]["corresponding_author_status"] is True
    assert rowset.prunes == [
        Prune("tomogram", {"tomogram_voxel_spacing_id": vs10_ref}),
        Prune("tomogram", {"tomogram_voxel_spacing_id": vs13_ref}),
        Prune("tomogram_author", {"tomogram_id": tomogram_ref}),
    ]


def test_rows_land_with_their_parents_and_reapplying_changes_nothing(engine: Engine) -> None:
    documents = {DOC_100: TOMOGRAM_100, DOC_101: TOMOGRAM_101}
    first = apply_rowset(engine, _parents() + _tomograms(documents))
    assert first.counts("tomogram").inserted == 2
    assert first.counts("tomogram_author").inserted == 3

    (run,) = _stored(engine, "run")
    spacing_ids = {vs["voxel_spacing"]: vs["id"] for vs in _stored(engine, "tomogram_voxel_spacing")}
    raw, denoised = _stored(engine, "tomogram")
    assert (raw["run_id"], raw["tomogram_voxel_spacing_id"]) == (run["id"], spacing_ids[10.0])
    assert (denoised["run_id"], denoised["tomogram_voxel_spacing_id"]) == (run["id"], spacing_ids[13.48])
    assert raw["is_author_submitted"] is True and raw["is_portal_standard"] is False
    assert denoised["is_author_submitted"] is False and denoised["is_portal_standard"] is True
    assert denoised["deposition_id"] == OTHER_DEPOSITION
    assert (raw["processing_software"], denoised["processing_software"]) == (None, "cryoCARE")
    assert (raw["file_size_mrc"], raw["file_size_omezarr"]) == (61_440, 70_123)
    for column in ("file_size_mrc", "key_photo_url", "publications", "neuroglancer_config"):
        assert denoised[column] is None, column
    assert (denoised["offset_x"], denoised["offset_y"], denoised["offset_z"]) == (2, -3, 4)
    assert denoised["s3_mrc_file"] == f"{S3}/{VS13}/Tomograms/101/TS_001.mrc"
    assert raw["release_date"].replace(tzinfo=None) == datetime.datetime(2026, 3, 1)
    assert raw["alignment_id"] is None
    assert _authors_by_tomogram(engine) == {
        raw["id"]: [(1, "Ada Lovelace"), (2, "Alan Turing")],
        denoised["id"]: [(1, "Grace Hopper")],
    }

    before = {table: _stored(engine, table) for table in ("tomogram", "tomogram_author")}
    # The raw tomogram's NULL processing_software must match itself for this to be a no-op.
    again = apply_rowset(engine, _parents() + _tomograms(documents))
    assert not again.changed
    assert again.counts("tomogram").unchanged == 2
    assert {table: _stored(engine, table) for table in before} == before


def test_changing_the_author_list_updates_and_prunes_authors(engine: Engine) -> None:
    apply_rowset(engine, _parents() + _tomograms({DOC_100: TOMOGRAM_100, DOC_101: TOMOGRAM_101}))
    raw_id = _stored(engine, "tomogram")[0]["id"]
    kept_id = next(a["id"] for a in _stored(engine, "tomogram_author") if a["name"] == "Alan Turing")

    changed = copy.deepcopy(TOMOGRAM_100)
    changed["authors"] = [
        {"name": "Alan Turing", "email": "alan@example.org"},
        {"name": "Katherine Johnson"},
    ]
    report = apply_rowset(engine, _tomograms({DOC_100: changed, DOC_101: TOMOGRAM_101}))
    assert report.counts("tomogram").unchanged == 2
    counts = report.counts("tomogram_author")
    assert (counts.inserted, counts.updated, counts.deleted, counts.unchanged) == (1, 1, 1, 1)
    assert _authors_by_tomogram(engine)[raw_id] == [(1, "Alan Turing"), (2, "Katherine Johnson")]
    turing = next(a for a in _stored(engine, "tomogram_author") if a["name"] == "Alan Turing")
    assert (turing["id"], turing["email"], turing["corresponding_author_status"]) == (
        kept_id,
        "alan@example.org",
        None,
    )


def test_a_tomogram_whose_document_disappears_is_pruned(engine: Engine) -> None:
    apply_rowset(engine, _parents() + _tomograms({DOC_100: TOMOGRAM_100, DOC_101: TOMOGRAM_101}))
    raw, denoised = _stored(engine, "tomogram")

    # A rowset that only covers the 10 Å spacing leaves the tomogram at 13.48 Å alone.
    scoped = apply_rowset(engine, _tomograms({DOC_100: TOMOGRAM_100}, spacings=(10.0,)))
    assert scoped.counts("tomogram").deleted == 0
    assert [t["id"] for t in _stored(engine, "tomogram")] == [raw["id"], denoised["id"]]

    gone = apply_rowset(engine, _tomograms({DOC_100: TOMOGRAM_100}))
    assert gone.counts("tomogram").deleted == 1
    assert [t["id"] for t in _stored(engine, "tomogram")] == [raw["id"]]
    assert set(_authors_by_tomogram(engine)) == {raw["id"]}  # the pruned tomogram's authors went with it

    # A voxel spacing that disappears from the run takes its tomograms and their authors along.
    apply_rowset(engine, _parents(spacings=(13.48,)) + _tomograms({}, spacings=(13.48,)))
    assert _stored(engine, "tomogram") == []
    assert _stored(engine, "tomogram_author") == []


def test_a_changed_key_field_replaces_the_tomogram(engine: Engine) -> None:
    apply_rowset(engine, _parents() + _tomograms({DOC_100: TOMOGRAM_100}))
    (before,) = _stored(engine, "tomogram")

    filtered = {**copy.deepcopy(TOMOGRAM_100), "processing": "filtered"}
    report = apply_rowset(engine, _tomograms({DOC_100: filtered}))
    assert (report.counts("tomogram").inserted, report.counts("tomogram").deleted) == (1, 1)
    (after,) = _stored(engine, "tomogram")
    assert after["processing"] == "filtered" and after["id"] != before["id"]
    assert _authors_by_tomogram(engine) == {after["id"]: [(1, "Ada Lovelace"), (2, "Alan Turing")]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("deposition_id"), "deposition_id"),
        (lambda d: d.pop("voxel_spacing"), "voxel_spacing"),
        (lambda d: d.pop("processing"), "processing"),
        (lambda d: d.pop("fiducial_alignment_status"), "fiducial_alignment_status"),
        (lambda d: d["size"].pop("y"), "size.y"),
        (lambda d: d.pop("offset"), "offset.x"),
        (lambda d: d["dates"].pop("release_date"), "dates.release_date"),
        (lambda d: d.pop("omezarr_dir"), "omezarr_dir"),
        (lambda d: d.pop("mrc_file"), "mrc_file"),
        (lambda d: d.pop("scales"), "scales"),
        (lambda d: d.pop("authors"), "authors"),
    ],
)
def test_a_missing_required_field_names_the_document_and_field(change, field: str) -> None:
    doc = copy.deepcopy(TOMOGRAM_100)
    change(doc)
    with _raises(f"{DOC_100}: field '{field}' is missing"):
        _tomograms({DOC_100: doc})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["scales"].pop(), "field 'scales' must list 3 scales, got 2"),
        (lambda d: d["scales"][1].update(y="16"), "field 'scales[1].y' must be an integer, got '16'"),
        (lambda d: d["authors"][1].pop("name"), "field 'authors[1].name' is missing or empty"),
        (lambda d: d.update(voxel_spacing="10"), "field 'voxel_spacing' must be a number"),
        (lambda d: d.update(is_visualization_default=1), "'is_visualization_default' must be true or false"),
        (lambda d: d.update(mrc_file="../"), "field 'mrc_file' names no file"),
        (lambda d: d.update(voxel_spacing=13.48), f"not a tomogram_metadata.json under {VS13}/Tomograms/"),
        (lambda d: d.update(voxel_spacing=7.0), "voxel spacing 7.0 is not one of the run's [10.0, 13.48]"),
        (lambda d: d.update(run_name="TS_002"), "field 'run_name' is 'TS_002', expected 'TS_001'"),
    ],
)
def test_bad_or_misplaced_documents_are_refused(change, message: str) -> None:
    doc = copy.deepcopy(TOMOGRAM_100)
    change(doc)
    with _raises(message) as raised:
        _tomograms({DOC_100: doc})
    assert str(raised.value).startswith(f"{DOC_100}: ")


def test_two_documents_with_one_natural_key_are_refused() -> None:
    twin = f"{VS10}/Tomograms/102/tomogram_metadata.json"
    with _raises(f"{twin}: same deposition_id, processing, processing_software and reconstruction_method"):
        _tomograms({DOC_100: TOMOGRAM_100, twin: TOMOGRAM_100})
    # Another processing makes it a tomogram of its own.
    rowset = _tomograms({DOC_100: TOMOGRAM_100, twin: {**TOMOGRAM_100, "processing": "filtered"}})
    assert len(_rows(rowset, "tomogram")) == 2


def test_a_neuroglancer_config_must_be_json() -> None:
    with _raises(f"{DOC_100}: its neuroglancer config is not JSON"):
        tomogram_rowset(
            dataset_id=DATASET_ID,
            run_name=RUN,
            documents={DOC_100: TOMOGRAM_100},
            file_sizes={},
            dataset_deposition_id=DATASET_DEPOSITION,
            voxel_spacings=[10.0],
            s3_prefix=S3,
            https_prefix=HTTPS,
            neuroglancer_configs={DOC_100: "{layers"},
        )


def test_migration_creates_exactly_the_model_columns(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    for table in ("tomogram", "tomogram_author"):
        model = Base.metadata.tables[table]
        migrated = {c["name"]: c["nullable"] for c in inspector.get_columns(table)}
        assert migrated == {c.name: c.nullable for c in model.columns}, table
        assert {ix["name"] for ix in inspector.get_indexes(table)} >= {ix.name for ix in model.indexes}
    unique = sa.inspect(engine).get_unique_constraints("tomogram_author")
    assert [u["column_names"] for u in unique] == [["tomogram_id", "name"]]


def test_upgrade_from_the_core_revision_and_back(tmp_path: Path) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'stepwise.db'}"
    locations = migration_locations()
    migrate.upgrade(url, revision="0001_portal_core", version_locations=locations)
    engine = make_engine(url)
    try:
        apply_rowset(engine, _parents())
        assert "tomogram" not in sa.inspect(engine).get_table_names()
        migrate.upgrade(url, version_locations=locations)
        assert migrate.current_revisions(url) == ("0002_tomograms",)
        apply_rowset(engine, _tomograms({DOC_100: TOMOGRAM_100}))
        assert len(_stored(engine, "tomogram")) == 1

        command.downgrade(migrate.alembic_config(url, version_locations=locations), "0001_portal_core")
        names = set(sa.inspect(engine).get_table_names())
        assert not names & {"tomogram", "tomogram_author"}
        assert len(_stored(engine, "tomogram_voxel_spacing")) == 2
    finally:
        engine.dispose()
