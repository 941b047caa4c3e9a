"""The deployment path: `dagster-daemon run` on a Postgres instance configured by deploy/dagster.yaml.

Nothing is ticked or launched by the test: the daemon's sensors find the demo deposit, its queued run
coordinator launches the runs they request (each in a run worker forked by the run launcher's fork server),
and the test only watches the instance and then looks at what the runs left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from sqlalchemy import text

from cryoet_assets.defs.sensors import FOLLOW_INTERVAL_SECONDS
from cryoet_assets.lib.db import make_engine
from cryoet_assets.lib.demo import DEMO_RUNS, write_demo
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets.run_launcher import WORKER_TAG
from cryoet_assets.runner import RUN_KEY_TAG, SENSOR_NAME_TAG, Settings, workspace_yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
DAEMON = Path(sys.executable).parent / "dagster-daemon"
TIMEOUT_SECONDS = 240  # from the daemon's start to the second look's last tick
STOP_GRACE_SECONDS = 30  # SIGINT lets the daemon shut its code server down; what is left then gets SIGKILL
RunStatus = dg.DagsterRunStatus
FINISHED = {RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED}
# The checks of an acquisition-run partition: (asset, check).
RUN_CHECKS = [("tomograms", "tomograms_valid"), ("run_metadata", "run_metadata_valid"),
              ("voxel_spacings", "voxel_spacings_valid")]


@dataclass
class Daemon:
    process: subprocess.Popen
    log: Path
    deadline: float

    def tail(self, lines: int = 60) -> str:
        content = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(content.splitlines()[-lines:])

    def fail(self, why: str) -> None:
        pytest.fail(f"{why}\n--- the end of the daemon's log ({self.log}) ---\n{self.tail()}", pytrace=False)

    def check(self, what: str) -> None:
        """Fails when the daemon has exited or the overall time is up while waiting for `what`."""
        if self.process.poll() is not None:
            self.fail(f"the daemon exited ({self.process.returncode}) while waiting for {what}")
        if time.monotonic() > self.deadline:
            self.fail(f"{what} did not happen within {TIMEOUT_SECONDS} s of the daemon's start")


@pytest.fixture
def deployment(tmp_path, postgres_database, deployed_home):
    """(settings, Dagster home, workspace file): local buckets under tmp_path, the portal DB and the instance
    each a fresh Postgres database, the demo deposit and its config written, the instance created."""
    settings = replace(
        Settings.embedded(tmp_path / "buckets"),
        staging_db_url=(portal_db := postgres_database()), production_db_url=portal_db,
        staging_https_prefix="https://files.example.org/staging",
    )
    write_demo(deposit=open_bucket(settings.deposit_url), configs=open_bucket(settings.configs_url))
    workspace = deployed_home / "workspace.yaml"
    workspace.write_text(workspace_yaml())
    return settings, deployed_home, workspace


@contextlib.contextmanager
def running_daemon(settings: Settings, home: Path, workspace: Path) -> Iterator[Daemon]:
    """`dagster-daemon run -w workspace` in its own process group, stopped with everything it started."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CRYOET_", "DAGSTER_"))}
    env.update(settings.environment(), DAGSTER_HOME=str(home), DAGSTER_PG_URL=os.environ["DAGSTER_PG_URL"])
    # The daemon's code server and run workers import the package under test, not another installed copy.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    log = home / "daemon.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen([str(DAEMON), "run", "-w", str(workspace)], cwd=home, env=env,
                                   stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield Daemon(process, log, deadline=time.monotonic() + TIMEOUT_SECONDS)
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for _ in range(50):  # killed members leave the group as soon as they are reaped
        if not group_members(process.pid):
            return
        time.sleep(0.1)


def group_members(pgid: int) -> list[str]:
    """Command lines of the live (non-zombie) processes of process group `pgid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            fields = stat[stat.rfind(b")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != b"Z":
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, IndexError, ValueError):
            continue
    return found


def describe_failures(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> str:
    """Each run's failed steps and failed checks, with what they said."""
    lines = []
    kinds = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE,
             dg.DagsterEventType.ASSET_CHECK_EVALUATION}
    for run in runs:
        lines.append(f"{run.job_name} {run.tags.get('dagster/partition')} {run.run_id}: {run.status.value}")
        for entry in instance.all_logs(run.run_id, of_type=kinds):
            event = entry.dagster_event
            if event.event_type != dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                lines.append(f"  {event.step_key or 'run'}: {entry.message}")
            elif not (evaluation := event.event_specific_data).passed:
                lines.append(f"  {evaluation.check_name}: {evaluation.description}")
    return "\n".join(lines)


def wait_for_the_deposit(instance: dg.DagsterInstance, daemon: Daemon) -> list[dg.DagsterRun]:
    """Every run the sensors requested, once all finished and the dataset's roll-up run is among them."""
    while True:
        runs = list(instance.get_runs(ascending=True))
        failed = [run for run in runs if run.status in FINISHED - {RunStatus.SUCCESS}]
        if failed:
            daemon.fail(f"runs did not succeed:\n{describe_failures(instance, failed)}")
        rollups = [run for run in runs if run.tags.get(SENSOR_NAME_TAG) == "dataset_rollup_sensor"]
        acquisitions = [run for run in runs if run.job_name == "acquisition_run_job"]
        if rollups and len(acquisitions) >= len(DEMO_RUNS) and all(run.status in FINISHED for run in runs):
            return runs
        daemon.check("every requested run and the roll-up run to finish: "
                     + ", ".join(f"{run.job_name} {run.status.value}" for run in runs))
        time.sleep(1)


def sensor_states(instance: dg.DagsterInstance) -> dict:
    return {state.instigator_name: state for state in instance.all_instigator_state(
        instigator_type=InstigatorType.SENSOR)}


def ticks_after(instance: dg.DagsterInstance, sensor: str, after: float) -> list:
    """The sensor's finished ticks that started after `after` (epoch seconds)."""
    state = sensor_states(instance)[sensor]
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after)
    return [tick for tick in ticks if tick.status != TickStatus.STARTED]


def rows(url: str, sql: str) -> list[tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def test_the_daemon_ingests_a_new_deposit_by_itself(deployment):
    settings, home, workspace = deployment
    with dg.DagsterInstance.get() as instance:
        with running_daemon(settings, home, workspace) as daemon:
            runs = wait_for_the_deposit(instance, daemon)
            # A second look: once everything finished, the following sensors look again and launch nothing.
            finished = time.time()
            while not all(ticks_after(instance, sensor, finished)
                          for sensor in ("plan_sensor", "dataset_rollup_sensor")):
                daemon.check(f"a tick of the plan and roll-up sensors (every {FOLLOW_INTERVAL_SECONDS} s) "
                             "after the last run")
                time.sleep(1)
            later = {sensor: ticks_after(instance, sensor, finished)
                     for sensor in ("plan_sensor", "dataset_rollup_sensor")}
            assert [run.run_id for run in instance.get_runs(ascending=True)] == [run.run_id for run in runs]
            pgid = daemon.process.pid
        assert group_members(pgid) == []
        check_runs(instance, runs, daemon_pid=pgid)
        check_sensors(instance, runs, later)
        check_asset_checks(instance, runs)
    check_portal(settings)


def check_runs(instance: dg.DagsterInstance, runs: list[dg.DagsterRun], *, daemon_pid: int) -> None:
    assert {run.status for run in runs} == {RunStatus.SUCCESS}
    # The runs the sensors requested, and no other (a retried run would be one more).
    requested = [(run.tags[SENSOR_NAME_TAG], run.job_name, run.tags["dagster/partition"]) for run in runs]
    assert sorted(requested) == [
        ("dataset_rollup_sensor", "dataset_job", "20999"),
        ("deposit_sensor", "dataset_plan_job", "20999"),
        ("plan_sensor", "acquisition_run_job", "20999__TS_001"),
        ("plan_sensor", "acquisition_run_job", "20999__TS_002"),
        ("plan_sensor", "acquisition_run_job", "20999__TS_003"),
        ("plan_sensor", "dataset_job", "20999"),
        ("plan_sensor", "deposition_job", "10999"),
    ]
    for run in runs:
        if run.job_name == "acquisition_run_job":
            assert run.tags[RUN_KEY_TAG].startswith(f"run:{run.tags['dagster/partition']}:"), run.tags
            assert run.tags["cryoet/dataset"] == "20999" and run.tags["cryoet/deposition"] == "10999"
        if run.tags[SENSOR_NAME_TAG] == "dataset_rollup_sensor":
            assert run.tags[RUN_KEY_TAG].startswith("rollup:20999:"), run.tags
    assert instance.get_dynamic_partitions("acquisition_runs") == [f"20999__{run}" for run in DEMO_RUNS]

    # Each run executed its steps in its run worker, one process: the in-process executor's engine event
    # names it, every step started there, and no step worker was started.
    for run in runs:
        events = [entry.dagster_event for entry in instance.all_logs(run.run_id) if entry.is_dagster_event]
        kinds = Counter(event.event_type for event in events)
        assert kinds[dg.DagsterEventType.STEP_WORKER_STARTING] == 0
        assert kinds[dg.DagsterEventType.STEP_WORKER_STARTED] == 0
        [executing] = [event for event in events if event.event_type == dg.DagsterEventType.ENGINE_EVENT
                       and event.message.startswith("Executing steps in process (pid: ")]
        pid = int(executing.engine_event_data.metadata["pid"].value)
        assert pid != daemon_pid
        # ...a process forked by the run launcher's fork server, which the run's worker tag names.
        assert run.tags[WORKER_TAG].split(":")[1] == str(pid), run.tags
        started = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_RESTARTED}
        steps = [event for event in events if event.event_type in started]
        assert steps and {event.pid for event in steps} == {pid}, run.job_name


def check_sensors(instance: dg.DagsterInstance, runs: list[dg.DagsterRun], later: dict) -> None:
    """No tick failed; the ticks requested exactly the runs there are; the later ticks requested nothing."""
    states = sensor_states(instance)
    assert set(states) == {"deposit_sensor", "plan_sensor", "dataset_rollup_sensor", "promotion_fanout_sensor"}
    requested = []
    for name, state in states.items():
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
        assert [tick.error for tick in ticks if tick.status == TickStatus.FAILURE] == [], name
        requested += [(name, run_id) for tick in ticks for run_id in tick.run_ids]
    assert sorted(requested) == sorted((run.tags[SENSOR_NAME_TAG], run.run_id) for run in runs)
    for name, ticks in later.items():
        assert {(tick.status, len(tick.run_ids)) for tick in ticks} == {(TickStatus.SKIPPED, 0)}, name


def check_asset_checks(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> None:
    """Each acquisition-run partition has its checks evaluated by its run, passed, with their validation."""
    acquisition = {run.tags["dagster/partition"]: run.run_id
                   for run in runs if run.job_name == "acquisition_run_job"}
    for asset, check in RUN_CHECKS:
        key = dg.AssetCheckKey(dg.AssetKey(asset), check)
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=20)
        assert sorted((record.partition, record.run_id) for record in records) == sorted(acquisition.items())
        for record in records:
            evaluation = record.event.dagster_event.event_specific_data
            assert evaluation.partition == record.partition, key
            assert evaluation.passed and record.status == AssetCheckExecutionRecordStatus.SUCCEEDED, key
            validation = evaluation.metadata["validation"].value
            assert validation["passed"] is True and validation["failures"] == [], (key, record.partition)
            assert validation["statistics"]["evaluated"] > 0 and validation["statistics"]["unsuccessful"] == 0
    # All the checks of the deposit (deposition, dataset twice, three per run) ran and passed.
    evaluations = [
        entry.dagster_event.event_specific_data
        for run in runs
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    assert len(evaluations) == 12 and all(evaluation.passed for evaluation in evaluations)


def check_portal(settings: Settings) -> None:
    """The demo's rows in the portal database, as the in-process ingestion loads them."""
    db = settings.staging_db_url
    runs = rows(db, "select name, s3_prefix, https_prefix from run order by name")
    staging = Path(settings.staging_url).as_uri()
    assert runs == [
        (run, f"{staging}/20999/{run}/", f"https://files.example.org/staging/20999/{run}/")
        for run in DEMO_RUNS
    ]
    # The runs load concurrently, so rows are compared by run name rather than by id.
    spacings = "select r.name, v.voxel_spacing from tomogram_voxel_spacing v join run r on r.id = v.run_id"
    assert rows(db, f"{spacings} order by r.name, v.voxel_spacing") == [
        ("TS_001", 10.012), ("TS_001", 20.024), ("TS_002", 10.012), ("TS_003", 10.012)
    ]
    tomograms = rows(db, """
        select r.name, t.voxel_spacing, t.size_x, t.size_y, t.size_z, t.scale2_dimensions,
               t.is_author_submitted
        from tomogram t join run r on r.id = t.run_id order by r.name, t.voxel_spacing""")
    assert tomograms == [
        ("TS_001", 10.012, 128, 96, 40, "32,24,10", True), ("TS_001", 20.024, 64, 48, 20, "16,12,5", True),
        ("TS_002", 10.012, 128, 96, 40, "32,24,10", True), ("TS_003", 10.012, 128, 96, 40, "32,24,10", True),
    ]
    assert rows(db, "select count(*) from tomogram_author") == [(8,)]
    assert rows(db, "select id, deposition_id, title from dataset") == [
        (20999, 10999, "Synthetic demo dataset")]
    assert rows(db, "select count(*) from dataset_author") == [(2,)]
    # The roll-up run loaded the dataset again once the runs were published: its size counts their files.
    published = sum(info.size for info in open_bucket(settings.staging_url).list("20999/"))
    assert rows(db, "select file_size from dataset") == [(published,)]
