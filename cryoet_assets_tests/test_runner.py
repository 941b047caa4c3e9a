"""The in-process runner leaves the instance as the sensor daemon would, shows progress, says why runs fail"""

import io
import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from importlib.resources import files

import dagster as dg
import pytest
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.sensor import execute_sensor_iteration
from sqlalchemy import create_engine, inspect

from cryoet_assets.cli import TerminalDisplay
from cryoet_assets.definitions import defs
from cryoet_assets.defs.progress import PlaneProgress, ThrottledProgress, parse_progress
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets.lib.volume.convert import convert_tomogram
from cryoet_assets.lib.volume.sources import open_volume
from cryoet_assets.lib.volume.synthetic import write_synthetic_mrc
from cryoet_assets.runner import (
    CODE_LOCATION,
    Display,
    RunOutcome,
    RunRequestItem,
    Settings,
    execute,
    execute_forked,
    ingest,
    workspace_yaml,
)

SENSORS = ("deposit_sensor", "plan_sensor", "dataset_rollup_sensor")


def sensor_states(instance) -> dict:
    states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    return {state.instigator_name: state for state in states}


def latest_storage_id(instance, asset: str) -> int:
    [record] = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records
    return record.storage_id


def tick_daemon(instance, workspace_file, *, at: datetime) -> None:
    """One iteration of the sensor daemon's loop, as `dagster-daemon run -w workspace.yaml` runs it."""
    target = WorkspaceFileTarget(paths=[str(workspace_file)])
    with create_test_daemon_workspace_context(target, instance) as context, freeze_time(at):
        list(execute_sensor_iteration(context, logging.getLogger("test-sensor-daemon"), None, None))


@pytest.mark.parametrize("workers", [1, 2], ids=["in-this-process", "forked-workers"])
def test_after_ingest_nothing_is_unsynced_a_daemon_launches_nothing_and_a_new_marker_replans_only(
    embedded, tmp_path, workers
):
    settings, demo, instance = embedded
    lines: list[str] = []
    report = ingest(instance, display=Display(lines.append), workers=workers)
    assert report.success
    assert [run.partition_key for run in report.runs] == [
        "20999", "10999", "20999", *[f"20999__{run}" for run in demo.runs], "20999"]

    # Each job is announced as it starts, and the tomograms step reports its planes.
    assert lines[:2] == ["  dataset_plan_job     20999                started",
                         "  dataset_plan_job     20999                ok"]
    ts001 = f"{settings.deposit_url}/lab_uploads/demo/runs/TS_001/TS_001"
    assert f"    {ts001}.mrc: 40/40 planes written" in lines
    assert f"    {ts001}_bin2.mrc: 20/20 planes written" in lines
    assert lines.index(f"    {ts001}.mrc: 40/40 planes written") > lines.index(
        "  acquisition_run_job  20999__TS_001        started")

    # The sensors' state as the daemon stores it: cursors past everything handled, last run keys.
    states = sensor_states(instance)
    assert set(states) == set(SENSORS)
    assert all(state.selector_id == state.origin.get_selector().get_id() for state in states.values())
    origins = [state.origin.repository_origin.code_location_origin for state in states.values()]
    locations = {origin.location_name for origin in origins}
    assert locations == {CODE_LOCATION}
    deposit_cursor = states["deposit_sensor"].instigator_data.cursor
    assert '"20999.yaml"' in deposit_cursor and '"source_prefix": "lab_uploads/demo"' in deposit_cursor
    assert states["plan_sensor"].instigator_data.cursor == str(latest_storage_id(instance, "ingestion_plan"))
    rollup_cursor = states["dataset_rollup_sensor"].instigator_data.cursor
    assert rollup_cursor == str(latest_storage_id(instance, "tomograms"))
    assert states["plan_sensor"].instigator_data.last_run_key.startswith("run:20999__TS_003:")

    # Every run carries the tags the daemon would have put on it.
    runs = {
        (tags["dagster/sensor_name"], run.job_name, tags["dagster/partition"]): tags["dagster/run_key"]
        for run in instance.get_runs()
        for tags in [run.tags]
    }
    assert sorted(runs) == sorted([
        ("deposit_sensor", "dataset_plan_job", "20999"),
        ("plan_sensor", "deposition_job", "10999"),
        ("plan_sensor", "dataset_job", "20999"),
        *[("plan_sensor", "acquisition_run_job", f"20999__{run}") for run in demo.runs],
        ("dataset_rollup_sensor", "dataset_job", "20999"),
    ])
    assert runs[("dataset_rollup_sensor", "dataset_job", "20999")] == (
        f"rollup:20999:{latest_storage_id(instance, 'tomograms')}")
    ticks = instance.get_ticks(states["plan_sensor"].instigator_origin_id, states["plan_sensor"].selector_id)
    assert [(tick.status, len(tick.run_ids)) for tick in ticks] == [(TickStatus.SUCCESS, 5)]

    # No staging asset partition shows as unsynced in the UI (production copies wait for a curator).
    graph = defs.resolve_asset_graph()
    now = datetime.now(timezone.utc)
    view = AssetGraphView(temporal_context=TemporalContext(effective_dt=now, last_event_id=None),
                          instance=instance, asset_graph=graph)
    resolver = CachingStaleStatusResolver(instance, graph, view)
    statuses = {
        (key, partition): resolver.get_status(key, partition)
        for key in graph.materializable_asset_keys if key.path[0] != "production"
        for partition in graph.get(key).partitions_def.get_partition_keys(dynamic_partitions_store=instance)
    }
    assert len(statuses) == 23
    stale = {(key.to_user_string(), partition): [f"{cause.reason} ({cause.dependency})"
                                                  for cause in resolver.get_stale_causes(key, partition)]
             for (key, partition), status in statuses.items() if status != StaleStatus.FRESH}
    assert stale == {}  # each with its causes, should it fail

    # The daemon, started a few minutes later on the same instance, evaluates each sensor, launches nothing.
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(workspace_yaml())
    cursors = {name: state.instigator_data.cursor for name, state in states.items()}
    tick_daemon(instance, workspace, at=now + timedelta(minutes=5))
    assert len(instance.get_runs()) == 7
    after = sensor_states(instance)
    # The promotion fan-out sensor (running by default) has nothing to follow: it keeps no cursor.
    assert {name: state.instigator_data.cursor for name, state in after.items()} == {
        **cursors, "promotion_fanout_sensor": None}
    for name, state in after.items():
        latest = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)[0]
        assert (name, latest.status) == (name, TickStatus.SKIPPED)
        assert latest.timestamp == (now + timedelta(minutes=5)).timestamp()

    # And the runner itself, asked again, finds nothing new either.
    assert ingest(instance, log=lambda line: None).runs == []

    # A new completion marker replans the dataset and skips the run keys already used.
    time.sleep(0.01)
    open_bucket(settings.deposit_url).write_bytes("lab_uploads/demo/_DONE", b"delivered again")
    report = ingest(instance, log=lambda line: None, workers=workers)
    # A new plan run (its run key carries the marker's version); the plan is the same, so every run the plan
    # sensor asks for has a run key it already used, and the daemon would skip them all too.
    assert [(run.job_name, run.partition_key, run.success) for run in report.runs] == [
        ("dataset_plan_job", "20999", True)]
    plan_runs = instance.get_runs(filters=dg.RunsFilter(job_name="dataset_plan_job"))
    assert len({run.tags["dagster/run_key"] for run in plan_runs}) == 2
    assert len(instance.get_runs()) == 8


def test_failed_runs_name_their_reason_once_without_a_traceback(demo_with_a_truncated_tomogram):
    # The ingest of the demo with TS_002's tomogram cut short, as it left the instance.
    settings, demo, instance, report = demo_with_a_truncated_tomogram
    key = "lab_uploads/demo/runs/TS_002/TS_002.mrc"
    failed = {run.partition_key: run for run in report.runs if not run.success}
    assert list(failed) == ["20999__TS_002"]
    assert failed["20999__TS_002"].error == "blocking check tomograms_valid failed"
    checks = failed["20999__TS_002"].checks
    [gate] = [check for check in checks if not check.passed and check.severity == "ERROR"]
    assert gate.name == "tomograms_valid" and gate.failed_expectations == ("tomogram_standardized",)
    assert f"{settings.deposit_url}/{key}: truncated" in gate.text
    assert not [check for check in checks if check.warned]

    # An error raised inside a step: its class and message, named by the step, without Dagster's wrapping.
    instance.add_dynamic_partitions("depositions", ["10998"])
    missing = execute(instance, job_name="deposition_job", partition_key="10998")
    assert missing.error == (
        "deposition_key_photos: no materialized ingestion_plan names deposition 10998; materialize the plan "
        "of a dataset of this deposition first"
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CRYOET_STAGING_HTTPS_PREFIX", "ftp://files.example.org")
        wrong_prefix = execute(instance, job_name="deposition_job", partition_key="10999")
    assert not wrong_prefix.success
    assert wrong_prefix.error.startswith("deposition_db_rows: ValueError: ")
    assert "ftp://files.example.org" in wrong_prefix.error
    assert "Traceback" not in wrong_prefix.error and "dagster._core" not in wrong_prefix.error
    assert len(wrong_prefix.error.splitlines()) == 1


def test_conversion_progress_is_logged_a_few_times_per_tomogram(tmp_path):
    source_path = write_synthetic_mrc(tmp_path / "big.mrc", shape=(128, 256, 256), voxel_size=10.0, spheres=2)
    logged: list[str] = []
    throttled = ThrottledProgress(logged.append)
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        throttled("big.mrc", done, total)

    source = open_volume(source_path)
    try:
        convert_tomogram(source, voxel_spacing=10.0, mrc_path=tmp_path / "out.mrc",
                         zarr_path=tmp_path / "out.zarr", progress=progress)
    finally:
        source.close()
    # 2 Mi voxels per slab of whole 256x256 planes: 32 planes at a time.
    assert calls == [(32, 128), (64, 128), (96, 128), (128, 128)]
    assert logged == [f"big.mrc: {done}/128 planes written" for done in (32, 64, 96, 128)]
    assert [parse_progress(line) for line in logged][-1] == PlaneProgress("big.mrc", 128, 128)

    finer = ThrottledProgress(logged.clear() or logged.append)
    for done in range(1, 129):
        finer("big.mrc", done, 128)
    assert logged == [f"big.mrc: {done}/128 planes written" for done in (32, 64, 96, 128)]
    assert parse_progress("big.mrc: standardized as tomogram 100 in 1.0 s") is None


def test_a_forked_run_that_dies_is_a_failed_outcome_and_the_others_complete(embedded):
    settings, demo, instance = embedded
    instance.add_dynamic_partitions("datasets", ["20999"])
    assert execute(instance, job_name="dataset_plan_job", partition_key="20999").success
    lines: list[str] = []
    items = [
        RunRequestItem("no_such_job", "20999", {}, None),  # resolving it raises in the child, which then exits 1
        RunRequestItem("dataset_plan_job", "20999", {"dagster/run_key": "again"}, "again"),
    ]
    died, planned = execute_forked(instance, items, workers=2, display=Display(lines.append))
    assert (died.success, died.error) == (False, "the process running it died (exit code 1)")
    assert planned.success and planned.run_id
    assert instance.get_run_by_id(planned.run_id).tags["dagster/run_key"] == "again"
    assert sorted(lines) == sorted([
        "  no_such_job          20999                started", "  no_such_job          20999                FAILED",
        "  dataset_plan_job     20999                started", "  dataset_plan_job     20999                ok"])


def test_forked_runs_start_from_one_instance_the_parent_opened_before_forking(embedded, monkeypatch, tmp_path):
    settings, demo, instance = embedded
    instance.add_dynamic_partitions("datasets", ["20999"])
    opened = tmp_path / "opened"  # a line per instance opened from a ref: the pid that opened it
    from_ref = dg.DagsterInstance.from_ref

    def recording_from_ref(ref):
        with opened.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return from_ref(ref)

    monkeypatch.setattr(dg.DagsterInstance, "from_ref", staticmethod(recording_from_ref))
    items = [RunRequestItem("dataset_plan_job", "20999", {"dagster/run_key": key}, key) for key in ("a", "b")]
    outcomes = execute_forked(instance, items, workers=2, display=Display(lambda line: None))
    assert [outcome.success for outcome in outcomes] == [True, True]
    assert opened.read_text().split() == [str(os.getpid())]
    assert {instance.get_run_by_id(outcome.run_id).status for outcome in outcomes} == {dg.DagsterRunStatus.SUCCESS}


def test_terminal_display_shares_the_line_between_jobs_running_at_once():
    stream = io.StringIO()
    display = TerminalDisplay(stream, width=200)
    display.started("acquisition_run_job", "20999__TS_001")
    display.started("acquisition_run_job", "20999__TS_002")
    display.progress(PlaneProgress("s3://deposit/runs/TS_002/TS_002.mrc", 10, 40), "20999__TS_002")
    display.finished(RunOutcome("acquisition_run_job", "20999__TS_001", success=True))
    first, second = "  acquisition_run_job  20999__TS_001        ", "  acquisition_run_job  20999__TS_002        "
    assert stream.getvalue() == (
        f"\r\x1b[K{first}running"
        f"\r\x1b[K{first}running | {second}running"
        f"\r\x1b[K{first}running | {second}[####............] 10/40 planes of TS_002.mrc"
        f"\r\x1b[K{first}ok\n{second}[####............] 10/40 planes of TS_002.mrc"
    )


def test_terminal_display_redraws_one_line_per_job():
    stream = io.StringIO()
    display = TerminalDisplay(stream, width=120)
    display.started("acquisition_run_job", "20999__TS_001")
    display.progress(PlaneProgress("s3://deposit/runs/TS_001/TS_001.mrc", 20, 40))
    display.finished(RunOutcome("acquisition_run_job", "20999__TS_001", success=True))
    job = "  acquisition_run_job  20999__TS_001        "
    assert stream.getvalue() == (
        f"\r\x1b[K{job}running"
        f"\r\x1b[K{job}[########........] 20/40 planes of TS_001.mrc"
        f"\r\x1b[K{job}ok\n"
    )


def test_a_sensor_that_fails_keeps_its_cursor_and_says_why(embedded):
    from cryoet_assets.lib.paths import state_path

    settings, demo, instance = embedded
    instance.add_dynamic_partitions("datasets", ["20999"])
    assert execute(instance, job_name="dataset_plan_job", partition_key="20999").success
    open_bucket(settings.staging_url).delete(state_path("ingestion_plan", "20999"))
    open_bucket(settings.configs_url).delete(demo.config_key)

    report = ingest(instance, log=lambda line: None)
    assert [(run.job_name, run.partition_key, run.success, run.kind) for run in report.runs] == [
        ("plan_sensor", "tick", False, "tick")]
    assert report.runs[0].error == (
        "Failure: dataset 20999 has no ingestion_plan yet; materialize ingestion_plan for it first")
    states = sensor_states(instance)
    assert "plan_sensor" not in states  # no cursor stored: the plan is read again on the next tick
    assert states["deposit_sensor"].instigator_data.cursor == "{}"


def test_a_config_the_deposit_sensor_cannot_plan_is_an_outcome_of_its_own(embedded):
    settings, demo, instance = embedded
    configs = open_bucket(settings.configs_url)
    configs.write_bytes(demo.config_key, b"version: [1.3.0\n")
    report = ingest(instance, log=lambda line: None)
    assert [(run.job_name, run.partition_key, run.success, run.kind) for run in report.runs] == [
        ("deposit_sensor", demo.config_key, False, "config")]
    error = report.runs[0].error
    assert error.startswith(f"{configs.uri(demo.config_key)}:") and "invalid YAML" in error


STORAGES_ASIDE = """
import os, sys, threading
os.environ["DAGSTER_HOME"] = home = sys.argv[1]
import dagster as dg
import cryoet_assets.definitions
from cryoet_assets.runner import import_while_storages_are_made

assert threading.active_count() == 1
import_while_storages_are_made([sys.argv[2]])
print("imported:", "cryoet_assets.run_worker_imports" in sys.modules, "great_expectations" in sys.modules)
print("storages imported here:", "cryoet_assets.sqlite_storage" in sys.modules)
files = ["history/runs.db", "schedules/schedules.db", "history/runs/event_log.db"]
print("made:", [os.path.isfile(os.path.join(home, name)) for name in files])
try:
    with dg.DagsterInstance.get() as instance:
        print("runs:", len(instance.get_runs()))
except Exception as exc:
    print("opening:", type(exc).__name__, exc)
"""


def test_a_new_instances_storages_and_database_are_made_in_a_child_during_the_run_imports(tmp_path):
    settings = Settings.embedded(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(files("cryoet_assets").joinpath("defaults/dagster.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRYOET_", "DAGSTER_"))}
    result = subprocess.run([sys.executable, "-c", STORAGES_ASIDE, str(home), settings.staging_db_url],
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    # This process imported what runs use, and not the storages: a child made them, and migrated the database,
    # before this process opened the instance.
    assert result.stdout.splitlines() == ["imported: True True", "storages imported here: False",
                                          "made: [True, True, True]", "runs: 0"]
    engine = create_engine(settings.staging_db_url)
    assert {"deposition", "dataset", "run", "tomogram"} <= set(inspect(engine).get_table_names())
    engine.dispose()

    # A child that fails says nothing: this process meets the error as it opens the instance itself.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "dagster.yaml").write_text("run_storage:\n  module: no_such_module\n  class: Storage\n")
    result = subprocess.run([sys.executable, "-c", STORAGES_ASIDE, str(broken), settings.staging_db_url],
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:3] == ["imported: True True", "storages imported here: False",
                                              "made: [False, False, False]"]
    assert result.stdout.splitlines()[3].startswith("opening: ") and "no_such_module" in result.stdout
    assert result.stderr == ""
