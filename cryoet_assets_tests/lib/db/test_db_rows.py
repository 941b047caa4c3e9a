from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from cryoet_assets.families.dataset.rows import dataset_rowset, dataset_runs_prune
from cryoet_assets.families.deposition.rows import deposition_rowset
from cryoet_assets.families.run.rows import published_voxel_spacings, run_rowset, voxel_spacing_rowset
from cryoet_assets.lib.db.models import Base
from cryoet_assets.lib.db.rows import MetadataError
from cryoet_assets.lib.db.sync import Prune, Ref, apply_rowset
from cryoet_assets.lib.keys import UnsafeNameError

S3 = "s3://cryoet-data-portal-staging"
HTTPS = "https://files.cryoet.example.org"
UTC = datetime.UTC

# Fields of configs/10001.yaml's dataset metadata, as dataset_metadata.json holds them.
AUTHORS_10001: list[dict[str, Any]] = [
    {"ORCID": "0000-0002-4691-9501", "name": "Irene de Teresa Trueba", "primary_author_status": True},
    {"ORCID": "0000-0002-9903-3667", "name": "Sara Goetz"},
    {"ORCID": "0000-0003-0901-8701", "name": "Alexander Mattausch"},
    {"ORCID": "0000-0002-4327-1068", "name": "Frosina Stojanovska"},
    {"ORCID": "0000-0003-4388-1349", "name": "Christian Eugen Zimmerli"},
    {"ORCID": "0000-0001-5333-3640", "name": "Mauricio Toro-Nahuelpan"},
    {"name": "Dorothy W. C. Cheng"},
    {"name": "Fergus Tollervey"},
    {"ORCID": "0000-0001-6562-7187", "name": "Constantin Pape"},
    {"ORCID": "0000-0002-7397-1321", "name": "Martin Beck"},
    {"ORCID": "0000-0001-6864-8901", "name": "Alba Diz-Munoz"},
    {"ORCID": "0000-0003-1334-6388", "name": "Anna Kreshuk"},
    {"ORCID": "0000-0001-6968-041X", "corresponding_author_status": True, "name": "Julia Mahamid"},
    {"ORCID": "0000-0001-8324-4040", "corresponding_author_status": True, "name": "Judith B. Zaugg"},
]
DATES_10001 = {
    "deposition_date": "2023-04-01",
    "last_modified_date": "2023-06-01",
    "release_date": "2023-06-01",
}
DATASET_10001: dict[str, Any] = {
    "assay": {"id": "EFO:0002909", "name": "microscopy assay"},
    "authors": AUTHORS_10001,
    "cell_component": {"id": None, "name": None},
    "cell_strain": {"id": "NCBITaxon:284812", "name": "Schizosaccharomyces pombe 972h-"},
    "cell_type": {"id": "CL:0000334", "name": "vegetative cell (sensu Fungi)"},
    "cross_references": {
        "publications": "doi:10.1101/2022.04.12.488077, doi:10.1038/s41592-022-01746-2",
        "related_database_entries": "EMPIAR-10988, EMD-14404, EMD-14405, EMD-14406, EMD-14408, EMD-14409, "
        "EMD-14410, EMD-14411",
    },
    "dataset_description": "Volta potential phase plate cryo-electron tomography of S. pombe cryo-FIB "
    "lamellae with comprehensive annotations of structures and macromolecules",
    "dataset_identifier": 10001,
    "dataset_title": "S. pombe cells from Volta Phase Plate",
    "dates": DATES_10001,
    "development_stage": {"id": "unknown", "name": "unknown"},
    "disease": {"id": "PATO:0000461", "name": "normal"},
    "funding": [{"funding_agency_name": "European Research Council (ERC)", "grant_id": "760067"}],
    "grid_preparation": "model: Quantifoil R2/1, material: COPPER, mesh: 200",
    "organism": {"name": "Schizosaccharomyces pombe 972h-", "taxonomy_id": 284812},
    "sample_preparation": "buffer_ph: 7.0, vitrification_cryogen_name: ETHANE",
    "sample_type": "primary_cell_culture",
    "tissue": {"id": "CL:0000334", "name": "vegetative cell (sensu Fungi)"},
    "key_photos": {"snapshot": "10001/Images/snapshot.png", "thumbnail": "10001/Images/thumbnail.png"},
    "deposition_id": 10000,
    "last_updated_at": 1700000000,
}
# 10001.yaml's deposition (10000) carries no metadata of its own; this one reuses the dataset's fields.
DEPOSITION_10000: dict[str, Any] = {
    "deposition_identifier": 10000,
    "deposition_title": "S. pombe cells from Volta Phase Plate",
    "deposition_description": "Volta potential phase plate cryo-electron tomography of S. pombe lamellae",
    "deposition_types": ["dataset", "annotation", "dataset"],
    "dates": DATES_10001,
    "authors": AUTHORS_10001[:3] + AUTHORS_10001[12:],
    "cross_references": {"publications": "doi:10.1038/s41592-022-01746-2", "related_database_entries": None},
    "key_photos": {"snapshot": "depositions_metadata/10000/Images/snapshot.png", "thumbnail": None},
    "deposition_id": 10000,
    "last_updated_at": 1700000000,
}


def _rows(rowset, table: str) -> list[dict[str, Any]]:
    return [dict(row.values) for row in rowset.rows if row.table == table]


def test_deposition_rowset_maps_the_document() -> None:
    rowset = deposition_rowset(DEPOSITION_10000, s3_prefix=S3, https_prefix=HTTPS + "/")

    (deposition,) = _rows(rowset, "deposition")
    assert deposition == {
        "id": 10000,
        "title": "S. pombe cells from Volta Phase Plate",
        "description": "Volta potential phase plate cryo-electron tomography of S. pombe lamellae",
        "tag": None,
        "deposition_publications": "doi:10.1038/s41592-022-01746-2",
        "related_database_entries": None,
        "deposition_date": datetime.datetime(2023, 4, 1, tzinfo=UTC),
        "release_date": datetime.datetime(2023, 6, 1, tzinfo=UTC),
        "last_modified_date": datetime.datetime(2023, 6, 1, tzinfo=UTC),
        "key_photo_url": f"{HTTPS}/depositions_metadata/10000/Images/snapshot.png",
        "key_photo_thumbnail_url": None,
    }
    authors = _rows(rowset, "deposition_author")
    assert [(a["author_list_order"], a["name"]) for a in authors] == [
        (1, "Irene de Teresa Trueba"),
        (2, "Sara Goetz"),
        (3, "Alexander Mattausch"),
        (4, "Julia Mahamid"),
        (5, "Judith B. Zaugg"),
    ]
    assert authors[0]["orcid"] == "0000-0002-4691-9501"
    assert authors[0]["primary_author_status"] is True
    assert authors[3]["corresponding_author_status"] is True
    assert authors[1]["corresponding_author_status"] is None
    assert all(a["deposition_id"] == 10000 for a in authors)
    assert _rows(rowset, "deposition_type") == [
        {"deposition_id": 10000, "type": "annotation"},
        {"deposition_id": 10000, "type": "dataset"},
    ]
    assert rowset.prunes == [
        Prune("deposition_author", {"deposition_id": 10000}),
        Prune("deposition_type", {"deposition_id": 10000}),
    ]


def test_dataset_rowset_flattens_ontologies_like_the_portal() -> None:
    rowset = dataset_rowset(DATASET_10001, s3_prefix=S3, https_prefix=HTTPS, file_size=123_456_789)

    (dataset,) = _rows(rowset, "dataset")
    assert dataset["id"] == 10001
    assert dataset["deposition_id"] == 10000
    assert dataset["title"] == "S. pombe cells from Volta Phase Plate"
    assert dataset["description"].startswith("Volta potential phase plate")
    assert {
        k: dataset[k]
        for k in dataset
        if k.endswith(("_name", "_id", "_taxid", "_label")) and k != "deposition_id"
    } == {
        "organism_name": "Schizosaccharomyces pombe 972h-",
        "organism_taxid": 284812,
        "tissue_name": "vegetative cell (sensu Fungi)",
        "tissue_id": "CL:0000334",
        "cell_name": "vegetative cell (sensu Fungi)",
        "cell_type_id": "CL:0000334",
        "cell_strain_name": "Schizosaccharomyces pombe 972h-",
        "cell_strain_id": "NCBITaxon:284812",
        "cell_component_name": None,
        "cell_component_id": None,
        "assay_label": "microscopy assay",
        "assay_ontology_id": "EFO:0002909",
        "development_stage_name": "unknown",
        "development_stage_ontology_id": "unknown",
        "disease_name": "normal",
        "disease_ontology_id": "PATO:0000461",
    }
    assert dataset["sample_type"] == "primary_cell_culture"
    assert dataset["dataset_publications"] == "doi:10.1101/2022.04.12.488077, doi:10.1038/s41592-022-01746-2"
    assert dataset["related_database_entries"].startswith("EMPIAR-10988, EMD-14404")
    assert dataset["s3_prefix"] == f"{S3}/10001/"
    assert dataset["https_prefix"] == f"{HTTPS}/10001/"
    assert dataset["key_photo_url"] == f"{HTTPS}/10001/Images/snapshot.png"
    assert dataset["key_photo_thumbnail_url"] == f"{HTTPS}/10001/Images/thumbnail.png"
    assert dataset["file_size"] == 123_456_789
    assert dataset["release_date"] == datetime.datetime(2023, 6, 1, tzinfo=UTC)
    assert set(dataset) == set(Base.metadata.tables["dataset"].c.keys())

    authors = _rows(rowset, "dataset_author")
    assert len(authors) == 14
    assert (authors[12]["name"], authors[12]["author_list_order"]) == ("Julia Mahamid", 13)
    assert authors[6]["orcid"] is None
    assert _rows(rowset, "dataset_funding") == [
        {"dataset_id": 10001, "funding_agency_name": "European Research Council (ERC)", "grant_id": "760067"}
    ]
    assert rowset.prunes == [
        Prune("dataset_author", {"dataset_id": 10001}),
        Prune("dataset_funding", {"dataset_id": 10001}),
    ]


def test_run_rowset_builds_prefixes_and_leaves_voxel_spacings_alone() -> None:
    rowset = run_rowset(dataset_id=10001, run_name="TS_026", s3_prefix=S3, https_prefix=HTTPS)
    assert _rows(rowset, "run") == [
        {
            "dataset_id": 10001,
            "name": "TS_026",
            "s3_prefix": f"{S3}/10001/TS_026/",
            "https_prefix": f"{HTTPS}/10001/TS_026/",
        }
    ]
    assert rowset.prunes == []


def test_voxel_spacing_rowset_builds_prefixes_and_rounds_spacings() -> None:
    rowset = voxel_spacing_rowset(
        dataset_id=10001,
        run_name="TS_026",
        voxel_spacings=[13.48, 13.4800004, 7],
        s3_prefix=S3,
        https_prefix=HTTPS,
    )
    run_ref = Ref("run", {"dataset_id": 10001, "name": "TS_026"})
    assert _rows(rowset, "tomogram_voxel_spacing") == [
        {
            "run_id": run_ref,
            "voxel_spacing": 7.0,
            "s3_prefix": f"{S3}/10001/TS_026/Reconstructions/VoxelSpacing7.000/",
            "https_prefix": f"{HTTPS}/10001/TS_026/Reconstructions/VoxelSpacing7.000/",
        },
        {
            "run_id": run_ref,
            "voxel_spacing": 13.48,
            "s3_prefix": f"{S3}/10001/TS_026/Reconstructions/VoxelSpacing13.480/",
            "https_prefix": f"{HTTPS}/10001/TS_026/Reconstructions/VoxelSpacing13.480/",
        },
    ]
    assert rowset.prunes == [Prune("tomogram_voxel_spacing", {"run_id": run_ref})]


def test_published_voxel_spacings_are_the_voxel_spacing_folders_in_numeric_order() -> None:
    where = "s3://staging/10001/TS_026/Reconstructions"
    folders = ["VoxelSpacing13.480", "VoxelSpacing7.000", "Notes", "VoxelSpacing100.000"]
    assert published_voxel_spacings(folders, where=where) == [7.0, 13.48, 100.0]
    assert published_voxel_spacings([], where=where) == []
    for name in ("VoxelSpacing13.48", "VoxelSpacing", "VoxelSpacingnan", "VoxelSpacing-1.000"):
        with pytest.raises(MetadataError, match=f"^{where}/{name}: not a voxel spacing folder"):
            published_voxel_spacings(["VoxelSpacing7.000", name], where=where)


def test_dataset_runs_prune_keeps_the_named_runs() -> None:
    rowset = dataset_runs_prune(10001, ["TS_027", "TS_026"])
    assert rowset.rows == []
    assert rowset.prunes == [
        Prune(
            "run",
            {"dataset_id": 10001},
            keep=({"dataset_id": 10001, "name": "TS_026"}, {"dataset_id": 10001, "name": "TS_027"}),
        )
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["dates"].pop("release_date"),
            "dataset_metadata.json: field 'dates.release_date' is missing",
        ),
        (lambda d: d["dates"].update(release_date="June 1"), "field 'dates.release_date' must be a date"),
        (lambda d: d["authors"][1].pop("name"), "field 'authors[1].name' is missing or empty"),
        (lambda d: d.update(dataset_identifier="ten"), "field 'dataset_identifier' must be an integer"),
        (lambda d: d.pop("deposition_id"), "field 'deposition_id' is missing"),
        (lambda d: d.update(funding="ERC"), "field 'funding' must be a list"),
        (
            lambda d: d["organism"].update(taxonomy_id="pombe"),
            "field 'organism.taxonomy_id' must be an integer",
        ),
    ],
)
def test_dataset_document_errors_name_the_file_and_field(change, message: str) -> None:
    doc = copy.deepcopy(DATASET_10001)
    change(doc)
    with pytest.raises(MetadataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        dataset_rowset(doc, s3_prefix=S3, https_prefix=HTTPS, file_size=None)


def test_bad_prefixes_and_names_are_refused() -> None:
    with pytest.raises(ValueError, match="must start with s3://"):
        dataset_rowset(DATASET_10001, s3_prefix="cryoet-bucket", https_prefix=HTTPS, file_size=None)
    with pytest.raises(ValueError, match="must start with https://"):
        deposition_rowset(DEPOSITION_10000, s3_prefix=S3, https_prefix="files.example.org")
    with pytest.raises(UnsafeNameError):
        run_rowset(dataset_id=10001, run_name="../TS_026", s3_prefix=S3, https_prefix=HTTPS)
    with pytest.raises(UnsafeNameError):
        voxel_spacing_rowset(
            dataset_id=10001, run_name="../TS_026", voxel_spacings=[7.0], s3_prefix=S3, https_prefix=HTTPS
        )
    with pytest.raises(MetadataError, match="deposition_metadata.json: field 'deposition_types' is missing"):
        deposition_rowset({**DEPOSITION_10000, "deposition_types": None}, s3_prefix=S3, https_prefix=HTTPS)


def _runs_and_spacings(engine: Engine) -> set[tuple[str, float]]:
    run = Base.metadata.tables["run"]
    vs = Base.metadata.tables["tomogram_voxel_spacing"]
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(run.c.name, vs.c.voxel_spacing).join(vs, vs.c.run_id == run.c.id)
        )
        return {(name, spacing) for name, spacing in found}


def test_built_rowsets_load_reload_and_prune(engine: Engine) -> None:
    def everything(dataset_doc: dict[str, Any], runs: dict[str, list[float]]):
        rowset = deposition_rowset(DEPOSITION_10000, s3_prefix=S3, https_prefix=HTTPS)
        rowset += dataset_rowset(dataset_doc, s3_prefix=S3, https_prefix=HTTPS, file_size=2048)
        for name, spacings in runs.items():
            rowset += run_rowset(dataset_id=10001, run_name=name, s3_prefix=S3, https_prefix=HTTPS)
            rowset += voxel_spacing_rowset(
                dataset_id=10001, run_name=name, voxel_spacings=spacings, s3_prefix=S3, https_prefix=HTTPS
            )
        return rowset + dataset_runs_prune(10001, runs)

    first = apply_rowset(engine, everything(DATASET_10001, {"TS_026": [13.48], "TS_027": [13.48, 6.74]}))
    assert first.counts("dataset_author").inserted == 14
    assert first.counts("tomogram_voxel_spacing").inserted == 3
    dataset = Base.metadata.tables["dataset"]
    with engine.connect() as connection:
        stored = connection.execute(sa.select(dataset)).mappings().one()
    assert stored["assay_label"] == "microscopy assay"
    assert stored["organism_taxid"] == 284812
    assert stored["file_size"] == 2048
    assert stored["release_date"].replace(tzinfo=None) == datetime.datetime(2023, 6, 1)

    again = apply_rowset(engine, everything(DATASET_10001, {"TS_026": [13.48], "TS_027": [13.48, 6.74]}))
    assert not again.changed

    fewer = copy.deepcopy(DATASET_10001)
    fewer["authors"] = [a for a in fewer["authors"] if a["name"] != "Sara Goetz"]
    third = apply_rowset(engine, everything(fewer, {"TS_026": [13.48, 4.0]}))
    assert third.counts("dataset_author").deleted == 1
    assert third.counts("dataset_author").updated == 12  # everyone after Sara moved up one place
    assert third.counts("run").deleted == 1
    assert third.counts("tomogram_voxel_spacing").inserted == 1
    assert _runs_and_spacings(engine) == {("TS_026", 13.48), ("TS_026", 4.0)}
