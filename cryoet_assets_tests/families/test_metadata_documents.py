"""Deposition, dataset and run documents from the demo config, checked against the portal's metadata schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cryoet_assets.families import run_contributors
from cryoet_assets.families.dataset.documents import DATASET_DEFAULTS, dataset_document
from cryoet_assets.families.deposition.documents import deposition_document
from cryoet_assets.families.run.documents import run_document
from cryoet_assets.lib.demo import write_demo
from cryoet_assets.lib.documents import read_json, write_document
from cryoet_assets.lib.ingestion import load_config_object
from cryoet_assets.lib.paths import (
    dataset_dir,
    dataset_metadata_path,
    deposition_dir,
    deposition_metadata_path,
    run_metadata_path,
)
from cryoet_assets.lib.photos import publish_photos
from cryoet_assets.lib.plan import DatasetPlan
from cryoet_assets.lib.storage import LocalBucket

DEPOSIT_BUCKET_NAME = "cryoetportal-rawdatasets-dev"


@pytest.fixture(scope="module")
def schema(reference_dir: Path) -> dict[str, Any]:
    return json.loads((reference_dir / "schema" / "metadata_files.schema.json").read_text())


def errors(schema: dict[str, Any], definition: str, doc: dict[str, Any]) -> list[str]:
    """Every schema violation of `doc` as `path: message`, validating against `$defs/<definition>`."""
    from jsonschema import Draft201909Validator

    wrapper = {**schema, "$ref": f"#/$defs/{definition}"}
    wrapper.pop("additionalProperties", None)
    wrapper.pop("type", None)
    validator = Draft201909Validator(wrapper, format_checker=Draft201909Validator.FORMAT_CHECKER)
    return sorted(f"{error.json_path}: {error.message}" for error in validator.iter_errors(doc))


@pytest.fixture
def published(tmp_path: Path) -> tuple[DatasetPlan, LocalBucket, LocalBucket]:
    """The demo's plan, its deposit, and a staging bucket holding its published key photos."""
    deposit = LocalBucket(tmp_path / DEPOSIT_BUCKET_NAME)
    configs = LocalBucket(tmp_path / "configs")
    staging = LocalBucket(tmp_path / "staging")
    demo = write_demo(deposit=deposit, configs=configs)
    plan = load_config_object(configs, demo.config_key).planner(deposit=deposit, output=staging, contributors=run_contributors()).plan(demo.dataset_id)
    return plan, deposit, staging


def written(staging: LocalBucket, key: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The document as the writer stores it (with `last_updated_at`), read back from the bucket."""
    write_document(staging, key, doc, now=1_790_000_000)
    return read_json(staging, key)


def test_schema_helper_reports_violations(schema: dict[str, Any]) -> None:
    # The wrapper must really check `$defs`: a document missing everything fails with named fields.
    problems = errors(schema, "DatasetMetadata", {"dataset_title": 5})
    assert "$.dataset_title: 5 is not of type 'string'" in problems
    assert any("'key_photos' is a required property" in problem for problem in problems)
    assert errors(schema, "DateStamp", {"deposition_date": "2026-11-01", "release_date": "2026-11-20",
                                        "last_modified_date": "not a date"}) == [
        "$.last_modified_date: 'not a date' is not a 'date'"
    ]


def test_deposition_document_validates(schema: dict[str, Any], published) -> None:
    plan, deposit, staging = published
    (deposition,) = plan.depositions
    photos = publish_photos(deposition.key_photos, parent_dir=deposition_dir(deposition.id), deposit=deposit,
                            output=staging)
    doc = deposition_document(deposition.metadata, deposition_id=deposition.id, key_photos=photos)
    assert doc is not None
    stored = written(staging, deposition_metadata_path(deposition.id), doc)

    assert errors(schema, "DepositionMetadata", stored) == []
    assert stored["deposition_id"] == stored["deposition_identifier"] == 10999
    assert stored["last_updated_at"] == 1_790_000_000
    assert stored["key_photos"] == {
        "snapshot": "depositions_metadata/10999/Images/snapshot.png",
        "thumbnail": "depositions_metadata/10999/Images/thumbnail.png",
    }
    assert staging.exists(stored["key_photos"]["snapshot"])
    assert deposition.metadata.get("key_photos") is None  # the plan's metadata is not modified


def test_dataset_document_validates(schema: dict[str, Any], published) -> None:
    plan, deposit, staging = published
    photos = publish_photos(plan.key_photos, parent_dir=dataset_dir(plan.dataset_id), deposit=deposit,
                            output=staging)
    doc = dataset_document(plan.metadata, deposition_id=plan.deposition_id, key_photos=photos)
    assert doc is not None
    stored = written(staging, dataset_metadata_path(plan.dataset_id), doc)

    assert errors(schema, "DatasetMetadata", stored) == []
    assert stored["deposition_id"] == 10999
    assert stored["dataset_identifier"] == 20999
    assert stored["key_photos"] == {"snapshot": "20999/Images/snapshot.png", "thumbnail": "20999/Images/thumbnail.png"}
    # Config values win over defaults; defaults fill what the config left out.
    assert stored["assay"] == {"name": "cryo-electron tomography", "id": "EFO:0002733"}
    assert stored["organism"] == {"name": "Homo sapiens", "taxonomy_id": 9606}
    assert stored["development_stage"] == {"name": "unknown", "id": "unknown"}
    for name in set(DATASET_DEFAULTS) - set(plan.metadata):
        assert stored[name] == DATASET_DEFAULTS[name]


def test_dataset_document_with_only_required_config_fields_validates(schema: dict[str, Any], published) -> None:
    # A config may leave out every optional ontology term: the defaults must still satisfy the schema.
    plan, _, staging = published
    metadata = copy.deepcopy(plan.metadata)
    for name in ("cell_strain", "organism", "funding", "development_stage"):
        metadata.pop(name)
    metadata["disease"] = {"name": None, "id": None}
    doc = dataset_document(metadata, deposition_id=10999, key_photos={"snapshot": None, "thumbnail": None})
    assert doc is not None
    stored = written(staging, dataset_metadata_path(plan.dataset_id), doc)
    assert errors(schema, "DatasetMetadata", stored) == []
    assert "organism" not in stored


def test_every_default_satisfies_the_schema(schema: dict[str, Any]) -> None:
    definitions = {
        "assay": "Assay", "cell_component": "CellComponent", "cell_strain": "CellStrain", "cell_type": "CellType",
        "development_stage": "DevelopmentStageDetails", "disease": "Disease", "tissue": "TissueDetails",
    }
    assert set(DATASET_DEFAULTS) == set(definitions)
    dataset = schema["$defs"]["DatasetMetadata"]["properties"]
    for name, default in DATASET_DEFAULTS.items():
        if default is None:
            assert {"type": "null"} in dataset[name].get("anyOf", []), f"{name} may not be null"
        else:
            assert errors(schema, definitions[name], default) == [], name


def test_organism_without_taxonomy_id_gets_null(published) -> None:
    plan, _, _ = published
    metadata = {**plan.metadata, "organism": {"name": "Homo sapiens"}}
    doc = dataset_document(metadata, deposition_id=10999, key_photos={})
    assert doc is not None and doc["organism"] == {"name": "Homo sapiens", "taxonomy_id": None}
    assert plan.metadata["organism"] == {"name": "Homo sapiens", "taxonomy_id": 9606}


def test_config_deposition_id_is_kept(published) -> None:
    plan, _, _ = published
    doc = dataset_document({**plan.metadata, "deposition_id": 123}, deposition_id=10999, key_photos={})
    assert doc is not None and doc["deposition_id"] == 123


def test_empty_metadata_gives_no_document() -> None:
    assert deposition_document({}, deposition_id=1, key_photos={}) is None
    assert dataset_document({}, deposition_id=1, key_photos={}) is None


def test_run_document(schema: dict[str, Any], tmp_path: Path) -> None:
    staging = LocalBucket(tmp_path / "staging")
    stored = written(staging, run_metadata_path("20999", "TS_001"), run_document(run_name="TS_001", deposition_id=10999))
    assert stored == {"run_name": "TS_001", "deposition_id": 10999, "last_updated_at": 1_790_000_000}
    # The schema's RunMetadata lists only run_name (and identified_objects); the portal adds the other two.
    portal_added = {"deposition_id", "last_updated_at"}
    assert errors(schema, "RunMetadata", {k: v for k, v in stored.items() if k not in portal_added}) == []


def test_demo_tomogram_documents_match_the_portal_schema(
    schema: dict[str, Any], published: tuple[DatasetPlan, LocalBucket, LocalBucket]
) -> None:
    from cryoet_assets.families.tomogram.standardize import standardize_run

    plan, deposit, staging = published
    outcome = standardize_run(plan, "TS_001", deposit=deposit, output=staging)
    assert outcome.failures == []
    assert len(outcome.documents) == 2
    for path, doc in outcome.documents.items():
        stored = written(staging, path, doc)
        assert errors(schema, "TomogramMetadata", stored) == [], path
        assert stored["voxel_spacing"] in (10.012, 20.024) and stored["fiducial_alignment_status"] == "FIDUCIAL"
