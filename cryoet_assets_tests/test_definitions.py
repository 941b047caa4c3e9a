"""The code location loads, and it holds what curators expect to see."""

import subprocess
import sys
from pathlib import Path

import dagster as dg

from cryoet_assets.definitions import defs

REPO = Path(__file__).resolve().parents[1]


def test_assets_are_grouped_by_entity_family_and_partitioned():
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "ingestion_config": "ingestion",
        "ingestion_plan": "ingestion",
        "deposition_key_photos": "depositions",
        "deposition_metadata": "depositions",
        "deposition_db_rows": "depositions",
        "dataset_key_photos": "datasets",
        "dataset_metadata": "datasets",
        "dataset_db_rows": "datasets",
        "run_metadata": "acquisition_runs",
        "voxel_spacings": "acquisition_runs",
        "run_db_rows": "acquisition_runs",
        "tomograms": "tomograms",
        "tomogram_db_rows": "tomograms",
    }
    partitions = {
        key.to_user_string(): graph.get(key).partitions_def.name for key in graph.get_all_asset_keys()
    }
    assert set(partitions.values()) == {"datasets", "depositions", "acquisition_runs"}


def test_every_metadata_asset_has_a_blocking_partitioned_check():
    graph = defs.resolve_asset_graph()
    checks = {key.asset_key.to_user_string(): key.name for key in graph.asset_check_keys}
    assert checks == {
        "deposition_metadata": "deposition_metadata_valid",
        "dataset_metadata": "dataset_metadata_valid",
        "run_metadata": "run_metadata_valid",
        "voxel_spacings": "voxel_spacings_valid",
        "tomograms": "tomograms_valid",
    }
    for key in graph.asset_check_keys:
        node = graph.get_check_spec(key) if hasattr(graph, "get_check_spec") else None
        if node is not None:
            assert node.blocking


def test_lineage_runs_from_config_to_database_rows():
    graph = defs.resolve_asset_graph()

    def upstream(name: str) -> set[str]:
        return {key.to_user_string() for key in graph.get(dg.AssetKey(name)).parent_keys}

    assert upstream("ingestion_plan") == {"ingestion_config"}
    assert upstream("run_metadata") == {"ingestion_plan"}
    # The dataset row is a parent the step waits for, not an input: the roll-up reloads it after the runs.
    assert upstream("run_db_rows") == {"run_metadata", "voxel_spacings"}
    assert upstream("dataset_db_rows") == {"ingestion_plan", "dataset_metadata", "deposition_db_rows"}
    assert upstream("deposition_metadata") == {"ingestion_plan", "deposition_key_photos"}
    assert upstream("tomograms") == {"ingestion_plan"}
    assert upstream("tomogram_db_rows") == {"tomograms", "run_db_rows"}


def test_jobs_and_sensors_are_defined():
    assert {job.name for job in defs.jobs} == {
        "dataset_plan_job", "deposition_job", "dataset_job", "acquisition_run_job"
    }
    assert {sensor.name for sensor in defs.sensors} == {"deposit_sensor", "plan_sensor", "dataset_rollup_sensor"}
    selection = defs.resolve_job_def("acquisition_run_job").asset_layer.executable_asset_keys
    assert {key.to_user_string() for key in selection} >= {"run_metadata", "tomograms", "tomogram_db_rows"}


def test_dagster_cli_validates_the_workspace():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
