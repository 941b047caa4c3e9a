"""The code location loads, and it holds what curators expect to see.

The asset graph (assets with their groups, partitions, kinds, deps, pools and checks; jobs with their
selections; sensors with their jobs; resources) is compared with the reviewed snapshot
`snapshots/definitions.json`. After an intended change, regenerate it and review its diff:

    UPDATE_SNAPSHOTS=1 python -m pytest -q cryoet_assets_tests/test_definitions.py
"""

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from cryoet_assets.definitions import defs

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "definitions.json"
PARTITIONS = {"datasets", "depositions", "acquisition_runs"}


def _partitions(partitions_def: dg.PartitionsDefinition | None) -> dict[str, Any] | None:
    if partitions_def is None:
        return None
    return {"name": getattr(partitions_def, "name", None), "type": type(partitions_def).__name__}


def _check_name(key: dg.AssetCheckKey) -> str:
    return f"{key.asset_key.to_user_string()}:{key.name}"


def definitions_snapshot(definitions: dg.Definitions) -> dict[str, Any]:
    """What a reviewer needs to see of the code location, as plain JSON-able data with sorted lists."""
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        backfill = node.backfill_policy
        automation = node.automation_condition
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": _partitions(node.partitions_def),
            "kinds": sorted(node.kinds),
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "pools": sorted(node.pools),
            "io_manager_key": node.io_manager_key,
            "backfill_policy": None if backfill is None else {
                "type": backfill.policy_type.value, "max_partitions_per_run": backfill.max_partitions_per_run,
            },
            "automation_condition": None if automation is None else (automation.get_label() or automation.name),
            "checks": {
                check.name: {
                    "blocking": graph.get_check_spec(check).blocking,
                    "partitions": _partitions(graph.get(check).partitions_def),
                }
                for check in graph.get_check_keys_for_assets({key})
            },
        }
    jobs = {}
    for job in definitions.jobs:
        resolved = definitions.resolve_job_def(job.name)
        layer = resolved.asset_layer
        jobs[job.name] = {
            "partitions": _partitions(resolved.partitions_def),
            "assets": sorted(key.to_user_string() for key in layer.executable_asset_keys),
            "checks": sorted(_check_name(key) for key in layer.asset_graph.asset_check_keys),
            "executor": resolved.executor_def.name,
        }
    sensors = {
        sensor.name: {
            "jobs": sorted(job.name for job in sensor.jobs) if sensor.has_jobs else [],
            "default_status": sensor.default_status.value,
            "minimum_interval_seconds": sensor.minimum_interval_seconds,
        }
        for sensor in definitions.sensors
    }
    return {
        "assets": assets,
        "jobs": jobs,
        "sensors": sensors,
        "resources": sorted(definitions.resources),
    }


def snapshot_text(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=2, sort_keys=True) + "\n"


def test_definitions_match_the_reviewed_snapshot():
    actual = snapshot_text(definitions_snapshot(defs))
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(actual)
    expected = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                        "snapshots/definitions.json", "built from the Definitions"))
    assert actual == expected, (
        f"the Definitions differ from the reviewed snapshot; if the change is intended, regenerate it with "
        f"UPDATE_SNAPSHOTS=1 and review the diff:\n{diff}"
    )


def test_snapshot_records_pools_checks_jobs_and_sensors():
    snapshot = json.loads(SNAPSHOT.read_text())
    # Spot values read back independently of the snapshot code, so the snapshot cannot drift into nonsense.
    tomograms = defs.resolve_asset_graph().get(dg.AssetKey("tomograms"))
    assert snapshot["assets"]["tomograms"]["pools"] == ["cpu_heavy"] == sorted(tomograms.pools)
    promoted = sorted(key for key in snapshot["assets"] if key.startswith("production/"))
    assert len(promoted) == 6 and {key: snapshot["assets"][key]["pools"] for key in promoted} == {
        key: sorted(defs.resolve_asset_graph().get(dg.AssetKey(key.split("/"))).pools) for key in promoted
    } == {key: ["s3"] for key in promoted}
    assert snapshot["assets"]["tomograms"]["checks"]["tomograms_valid"]["blocking"] is True
    assert "tomograms" in snapshot["jobs"]["acquisition_run_job"]["assets"]
    assert snapshot["sensors"]["deposit_sensor"]["jobs"] == ["dataset_plan_job"]


def test_every_asset_is_partitioned_and_every_check_blocks_with_its_assets_partitions():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert graph.get(key).partitions_def.name in PARTITIONS, key
    assert graph.asset_check_keys
    for key in graph.asset_check_keys:
        assert graph.get_check_spec(key).blocking, key
        assert graph.get(key).partitions_def == graph.get(key.asset_key).partitions_def, key


def test_dagster_cli_validates_the_workspace():
    # Without DAGSTER_HOME the command loads the instance from the root dagster.yaml, as `dagster dev` does.
    env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
