"""In-process ingestion: the real sensors ticked, and the runs they ask for executed one after another.

The instance is left as Dagster's sensor daemon (`dagster._daemon.sensor`) would have left it: a tick per
evaluation, each sensor's cursor and last run key in its instigator state, the `dagster/run_key` and
`dagster/sensor_name` tags on every run, the requested dynamic partitions added. A daemon started afterwards
(`dagster dev`) therefore requests nothing until a config or a deposit changes, and a request whose run key
was already used is skipped here as the daemon skips it.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import dagster as dg

if TYPE_CHECKING:
    from cryoet_assets.defs.progress import PlaneProgress

PORTAL_DEPOSIT_BUCKET = "cryoetportal-rawdatasets-dev"  # key photo paths in configs start with this bucket name
JOB_ORDER = ("dataset_plan_job", "deposition_job", "dataset_job", "acquisition_run_job")
DEFINITIONS_MODULE = "cryoet_assets.definitions"
# Dagster keeps a sensor's state per code location name: the runner, workspace.yaml and [tool.dagster] use
# this one.
CODE_LOCATION = "cryoet_assets"
RUN_KEY_TAG = "dagster/run_key"
# Runs of these jobs are independent of one another and may execute in parallel (`ingest(workers=...)`).
PARALLEL_JOBS = ("acquisition_run_job",)
SENSOR_NAME_TAG = "dagster/sensor_name"


@dataclass(frozen=True)
class Settings:
    """Where configs, buckets and databases live; becomes the CRYOET_* environment of the resources."""

    configs_url: str
    deposit_url: str
    staging_url: str
    production_url: str
    staging_db_url: str
    production_db_url: str
    s3_endpoint_url: str = ""
    staging_https_prefix: str = ""
    production_https_prefix: str = ""

    @classmethod
    def embedded(cls, root: Path) -> Settings:
        """The embedded default: local folders and SQLite files under `root`."""
        root = root.resolve()
        return cls(
            configs_url=str(root / "configs"),
            deposit_url=str(root / PORTAL_DEPOSIT_BUCKET),
            staging_url=str(root / "staging"),
            production_url=str(root / "production"),
            staging_db_url=f"sqlite:///{root / 'staging.db'}",
            production_db_url=f"sqlite:///{root / 'production.db'}",
        )

    def environment(self) -> dict[str, str]:
        return {
            "CRYOET_CONFIGS_URL": self.configs_url,
            "CRYOET_DEPOSIT_URL": self.deposit_url,
            "CRYOET_STAGING_URL": self.staging_url,
            "CRYOET_PRODUCTION_URL": self.production_url,
            "CRYOET_STAGING_DB_URL": self.staging_db_url,
            "CRYOET_PRODUCTION_DB_URL": self.production_db_url,
            "CRYOET_S3_ENDPOINT_URL": self.s3_endpoint_url,
            "CRYOET_STAGING_HTTPS_PREFIX": self.staging_https_prefix,
            "CRYOET_PRODUCTION_HTTPS_PREFIX": self.production_https_prefix,
        }

    def apply(self) -> None:
        """Export the settings for the Definitions' EnvVar-bound resources in this process."""
        os.environ.update(self.environment())

    def resources(self):
        """(PortalStorage, PortalDatabase) configured with these settings, for use outside a Dagster run."""
        from cryoet_assets.defs.resources import PortalDatabase, PortalStorage

        storage = PortalStorage(
            configs_url=self.configs_url, deposit_url=self.deposit_url, staging_url=self.staging_url,
            production_url=self.production_url, s3_endpoint_url=self.s3_endpoint_url,
            staging_https_prefix=self.staging_https_prefix, production_https_prefix=self.production_https_prefix,
        )
        return storage, PortalDatabase(staging_url=self.staging_db_url, production_url=self.production_db_url)


def workspace_yaml() -> str:
    """A workspace file loading the definitions as the code location the runner keeps sensor state for."""
    return (
        "load_from:\n"
        "  - python_module:\n"
        f"      module_name: {DEFINITIONS_MODULE}\n"
        f"      location_name: {CODE_LOCATION}\n"
    )


class CheckOutcome(NamedTuple):
    name: str
    passed: bool
    text: str
    severity: str = "ERROR"
    failed_expectations: tuple[str, ...] = ()

    @property
    def warned(self) -> bool:
        """Failed at WARN: visible, not blocking."""
        return not self.passed and self.severity == "WARN"


@dataclass
class RunOutcome:
    job_name: str
    partition_key: str
    success: bool
    checks: list[CheckOutcome] = field(default_factory=list)
    error: str = ""
    run_id: str = ""
    interrupted: bool = False  # stopped by Ctrl-C (SIGINT)
    # "run"; for a sensor's outcome, where no Dagster run was made: "tick" (its tick failed, `job_name` is the
    # sensor) or "config" (a config it could not plan, `partition_key` is the config's key)
    kind: str = "run"


@dataclass
class IngestionReport:
    runs: list[RunOutcome] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(run.success for run in self.runs)

    def checks(self) -> list[tuple[str, CheckOutcome]]:
        """(partition key, check outcome) of every check evaluated, in run order."""
        return [(run.partition_key, check) for run in self.runs for check in run.checks]


class Display:
    """Plain lines, for pipes and logs: each job as it starts and ends, each tomogram's progress."""

    def __init__(self, write: Callable[[str], None] = print) -> None:
        self._write = write
        self._lock = threading.Lock()  # progress arrives from the conversion's thread

    def started(self, job_name: str, partition_key: str) -> None:
        self.write(f"  {job_name:<20} {partition_key:<20} started")

    def progress(self, progress: PlaneProgress, partition_key: str = "") -> None:
        self.write(f"    {progress.source}: {progress.done}/{progress.total} planes written")

    def finished(self, outcome: RunOutcome) -> None:
        self.write(describe(outcome))

    def write(self, line: str) -> None:
        with self._lock:
            self._write(line)


@dataclass
class _Tick:
    """One evaluation of a sensor and the runs it led to, recorded as the daemon records a tick."""

    sensor: dg.SensorDefinition
    started: float
    previous_cursor: str | None
    result: dg.SensorResult
    cursor: str | None
    run_ids: list[str] = field(default_factory=list)
    run_keys: list[str] = field(default_factory=list)


def ingest(
    instance: dg.DagsterInstance,
    *,
    log: Callable[[str], None] = print,
    display: Display | None = None,
    workers: int = 1,
) -> IngestionReport:
    """Tick the deposit sensor, run the plans, tick the plan sensor, run what it asks for, then the roll-up.

    Each sensor starts from the cursor stored in `instance` and requests whose run key that sensor already
    used are skipped, so calling this again without changes runs nothing. With `workers` > 1 the acquisition
    runs a tick requests execute that many at a time, each in a process forked from this one (see
    `execute_forked`); everything else runs in this process.
    """
    from cryoet_assets.definitions import defs
    from cryoet_assets.defs.sensors import (
        DATASET_TAG,
        DEPOSITION_TAG,
        dataset_rollup_sensor,
        deposit_sensor,
        plan_sensor,
    )

    display = display or Display(log)
    storage = defs.resources["storage"]
    warmed = False
    report = IngestionReport()
    failed: set[tuple[str, str]] = set()
    parent_tags = {"deposition_job": DEPOSITION_TAG, "dataset_job": DATASET_TAG}
    sensors = ((deposit_sensor, "dataset_plan_job"), (plan_sensor, None), (dataset_rollup_sensor, "dataset_job"))
    for sensor, default_job in sensors:
        try:
            tick = _evaluate(instance, sensor, storage)
        except Exception as exc:  # a failed tick keeps its cursor, as in the daemon; the next sensors run
            outcome = RunOutcome(job_name=sensor.name, partition_key="tick", success=False,
                                 error=f"{type(exc).__name__}: {exc}", kind="tick")
            display.finished(outcome)
            report.runs.append(outcome)
            continue
        if sensor is deposit_sensor:
            for outcome in _refused_configs(tick.previous_cursor, tick.cursor):
                display.finished(outcome)
                report.runs.append(outcome)
        _add_partitions(instance, tick.result)
        requests = sorted(tick.result.run_requests or [],
                          key=lambda r: JOB_ORDER.index(r.job_name or default_job))
        forked: list[tuple[RunRequestItem, int]] = []
        outcomes: list[RunOutcome | None] = []
        for request in requests:
            job_name = request.job_name or default_job
            if request.run_key and _run_key_used(instance, sensor.name, request.run_key):
                continue
            blocked = [f"{tag.split('/')[-1]} {key}" for tag, key in request.tags.items() if (tag, key) in failed]
            if blocked:
                # The daemon would let these wait for their parent rows; in one process we know they never come.
                outcome = RunOutcome(job_name=job_name, partition_key=request.partition_key, success=False,
                                     error=f"skipped: {', '.join(blocked)} did not load")
                display.finished(outcome)
                outcomes.append(outcome)
                continue
            if not warmed:
                _import_what_runs_use()
                warmed = True
            tags = {**request.tags, SENSOR_NAME_TAG: sensor.name}
            if request.run_key:
                tags[RUN_KEY_TAG] = request.run_key
            item = RunRequestItem(job_name, request.partition_key, tags, request.run_key)
            if workers > 1 and job_name in PARALLEL_JOBS:
                forked.append((item, len(outcomes)))
                outcomes.append(None)
                continue
            display.started(job_name, request.partition_key)
            outcome = execute(instance, job_name=job_name, partition_key=request.partition_key, tags=tags,
                              on_progress=display.progress)
            if outcome.interrupted:
                display.finished(outcome)
                raise KeyboardInterrupt
            _count_run(tick, item, outcome)
            if not outcome.success and job_name in parent_tags:
                failed.add((parent_tags[job_name], request.partition_key))
            display.finished(outcome)
            outcomes.append(outcome)
        if forked:
            results = execute_forked(instance, [item for item, _ in forked], workers=workers, display=display)
            for (item, position), outcome in zip(forked, results):
                _count_run(tick, item, outcome)
                outcomes[position] = outcome
        report.runs.extend(outcome for outcome in outcomes if outcome is not None)
        _record(instance, tick)
    return report


def import_while_storages_are_made(database_urls: Sequence[str]) -> None:
    """Import what runs use (see `_import_what_runs_use`) while a child forked from this process makes the
    storages of the Dagster instance in $DAGSTER_HOME and migrates `database_urls` (SQLAlchemy URLs).

    For an ingest into a new instance and database, whose first run needs both: a fresh instance's SQLite
    storages (schemas, alembic stamps) take 0.6-0.9 s and the staging database's migration 0.1-0.2 s, on the
    core the imports (about 2 s) leave idle. Opening them afterwards finds them made (0.05 s). The child
    reports nothing: if it fails, this process opens the instance and migrates the databases itself and meets
    the error there, as without it. With a thread running here nothing is forked (a fork copies no thread and
    could copy a lock one of them holds); the imports alone are done.
    """
    if threading.active_count() > 1 or not hasattr(os, "fork"):
        _import_what_runs_use()
        return
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                _make_storages(database_urls)
            code = 0
        finally:
            os._exit(code)
    try:
        _import_what_runs_use()
    finally:
        os.waitpid(pid, 0)


def _make_storages(database_urls: Sequence[str]) -> None:
    from cryoet_assets.families import migration_locations
    from cryoet_assets.lib.db.migrate import upgrade

    dg.DagsterInstance.get().dispose()  # the storages are made as the instance is
    for url in database_urls:
        upgrade(url, version_locations=migration_locations())


def _import_what_runs_use() -> None:
    """Everything the runs import, once and in this thread, before the first run that executes (a tick whose
    requests were all run already imports nothing): forked runs start with it, and no two threads import the
    same package at once (a circular import inside it could then see a half-initialized module). What is
    alive then is frozen out of the garbage collector's reach (`cryoet_assets.collection`)."""
    from cryoet_assets.collection import collection_paused

    with collection_paused(freeze=True):
        import cryoet_assets.run_worker_imports  # noqa: F401


def execute(
    instance: dg.DagsterInstance,
    *,
    job_name: str,
    partition_key: str,
    tags=None,
    on_progress: Callable[[PlaneProgress], None] | None = None,
    run_id: str | None = None,
) -> RunOutcome:
    """Execute one partition of one job in this process; never raises for a failed step.

    Dagster's console logging is off (the run's events are in the instance); `error` holds each failed step's
    reason once, without a traceback, and `on_progress` gets the tomograms step's progress lines.
    """
    from cryoet_assets.definitions import defs

    job = defs.resolve_job_def(job_name)
    run_id = run_id or str(uuid.uuid4())
    if on_progress is not None:
        instance.add_event_listener(run_id, _progress_listener(on_progress))
    try:
        result = job.execute_in_process(
            instance=instance,
            partition_key=partition_key,
            tags=dict(tags or {}),
            run_id=run_id,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            raise_on_error=False,
        )
    except dg.DagsterError as exc:  # e.g. a partition key the instance does not know
        return RunOutcome(job_name=job_name, partition_key=partition_key, success=False, error=str(exc))
    checks = [_check_outcome(evaluation) for evaluation in result.get_asset_check_evaluations()]
    error = "" if result.success else _failure_reasons(result, checks)
    interrupted = any(
        event.is_step_failure and event.step_failure_data and event.step_failure_data.error
        and event.step_failure_data.error.cls_name == "DagsterExecutionInterruptedError"
        for event in result.all_events
    )
    return RunOutcome(job_name=job_name, partition_key=partition_key, success=result.success, checks=checks,
                      error="interrupted (Ctrl-C)" if interrupted else error, run_id=result.run_id,
                      interrupted=interrupted)


class RunRequestItem(NamedTuple):
    job_name: str
    partition_key: str
    tags: dict[str, str]
    run_key: str | None
    run_id: str = ""


def _count_run(tick: _Tick, item: RunRequestItem, outcome: RunOutcome) -> None:
    if outcome.run_id:
        tick.run_ids.append(outcome.run_id)
        tick.run_keys += [item.run_key] if item.run_key else []


def execute_forked(
    instance: dg.DagsterInstance, items: list[RunRequestItem], *, workers: int, display: Display
) -> list[RunOutcome]:
    """Execute `items`, `workers` at a time, each in a child forked from this process; outcomes in item order.

    A fork starts with everything this process imported (dagster, the definitions, great_expectations), so
    a run costs its own work and not a new interpreter. It starts with an instance too: this process opens
    one from `instance`'s ref before the first fork and never uses it, and each child runs on its own copy
    instead of opening the instance again (~0.1 s of CPU a run, mostly alembic reading its scripts to check
    the run and schedule storages' revisions). That copy holds no connection in use: Dagster's SQLite and
    Postgres run, schedule and event-log storages connect anew for each call (NullPool), the pooled event
    log makes its engine in the process that uses it, and the compute log manager and run launcher are made
    on first use, in the child. (A Postgres `auth_provider` is shared: the token it fetched here, and for
    GCP the HTTP session it fetched it with, should a child refresh it.) A child leaves through `os._exit`,
    so nothing it inherited from `instance` (pooled database connections, S3 clients) is used or closed by
    it; this process first drops its cached buckets and engines so that the children make their own.
    A child that dies without reporting (killed, out of memory) gives a failed outcome naming its exit code.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    from cryoet_assets.defs.resources import forget_connections

    forget_connections()
    context = multiprocessing.get_context("fork")
    outcomes: list[RunOutcome | None] = [None] * len(items)
    pending = [(position, item._replace(run_id=item.run_id or str(uuid.uuid4())))
               for position, item in enumerate(items)]
    running: dict = {}  # reading end of a child's pipe -> (position, item, process)
    # Opened before the first fork (not in each child), never used by this process: see above.
    pristine = dg.DagsterInstance.from_ref(instance.get_ref())
    interrupted = False
    try:
        while pending or running:
            try:
                while pending and not interrupted and len(running) < workers:
                    position, item = pending.pop(0)
                    receive, send = context.Pipe(duplex=False)
                    display.started(item.job_name, item.partition_key)
                    process = context.Process(target=_forked_run, args=(pristine, item, send), daemon=True)
                    process.start()
                    send.close()
                    running[receive] = (position, item, process)
                if not running:
                    break
                ready = wait(list(running))
            except KeyboardInterrupt:
                # The children got the same Ctrl-C (one process group): let them end their runs, start no
                # more.
                interrupted = True
                continue
            for connection in ready:
                position, item, process = running[connection]
                try:
                    kind, payload = connection.recv()
                except EOFError:
                    process.join()
                    kind, payload = "done", _died(instance, item, process.exitcode)
                if kind == "progress":
                    display.progress(payload, item.partition_key)
                    continue
                process.join()
                connection.close()
                del running[connection]
                outcomes[position] = payload
                display.finished(payload)
                interrupted = interrupted or payload.interrupted
    finally:
        pristine.dispose()
    if interrupted:
        raise KeyboardInterrupt
    return [outcome for outcome in outcomes if outcome is not None]


def _died(instance: dg.DagsterInstance, item: RunRequestItem, exitcode: int | None) -> RunOutcome:
    """The outcome of a child that exited without reporting; its run, if it had begun, is marked failed."""
    error = f"the process running it died (exit code {exitcode})"
    run = instance.get_run_by_id(item.run_id)
    if run is not None and not run.is_finished:
        instance.report_run_failed(run, message=error)
    return RunOutcome(job_name=item.job_name, partition_key=item.partition_key, success=False, error=error,
                      run_id=item.run_id if run is not None else "")


def _forked_run(instance: dg.DagsterInstance, item: RunRequestItem, send) -> None:
    code = 1
    try:
        outcome = execute(instance, job_name=item.job_name, partition_key=item.partition_key, tags=item.tags,
                          on_progress=lambda progress: send.send(("progress", progress)), run_id=item.run_id)
        send.send(("done", outcome))
        code = 0
    finally:
        os._exit(code)


def describe(outcome: RunOutcome) -> str:
    """One line per run: job, partition, state and check counts (reasons are in the summary)."""
    state = "ok" if outcome.success else "FAILED"
    line = f"  {outcome.job_name:<20} {outcome.partition_key:<20} {state:<6}"
    if outcome.checks:
        passed = sum(1 for check in outcome.checks if check.passed)
        warned = sum(1 for check in outcome.checks if check.warned)
        line += f" checks {passed}/{len(outcome.checks)} passed" + (f", {warned} warned" if warned else "")
    return line.rstrip()


def _check_outcome(evaluation) -> CheckOutcome:
    """The check's result as `defs.checks.check_result` published it (its `failed_expectations` rules)."""
    failed = evaluation.metadata.get("failed_expectations")
    return CheckOutcome(
        evaluation.check_name,
        evaluation.passed,
        evaluation.description or "",
        evaluation.severity.value if evaluation.severity else "ERROR",
        tuple(dict.fromkeys(failed.value)) if failed is not None else (),
    )


def _failure_reasons(result, checks: list[CheckOutcome]) -> str:
    """Each failed step's reason once: the Failure's description, the failed blocking checks, or the error."""
    reasons: list[str] = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            reason = _step_failure_reason(event.step_key, event.step_failure_data, checks)
            if reason not in reasons:
                reasons.append(reason)
    return "\n".join(reasons) or f"the run failed before any step did: see run {result.run_id} in the UI"


def _step_failure_reason(step_key: str | None, data, checks: list[CheckOutcome]) -> str:
    if data.user_failure_data is not None and data.user_failure_data.description:
        return f"{step_key}: {data.user_failure_data.description.strip()}"
    error = data.error
    if error is None:
        return f"{step_key}: failed without an error"
    if error.cls_name == "DagsterAssetCheckFailedError":
        names = [check.name for check in checks if not check.passed and check.severity == "ERROR"]
        return f"blocking check {', '.join(names) or 'of the asset'} failed"
    # Dagster wraps what the step raised (and RetryRequested what made it retry): report the step's own error.
    while error.cause is not None and (error.cls_name or "").startswith(("Dagster", "RetryRequested")):
        error = error.cause
    message = error.message.strip()
    qualified, _, text = message.partition(": ")
    if error.cls_name and qualified.endswith(error.cls_name) and text:
        message = f"{error.cls_name}: {text}"
    return f"{step_key}: {message}"


def _progress_listener(on_progress: Callable[[PlaneProgress], None]):
    from cryoet_assets.defs.progress import parse_progress

    def listen(event) -> None:
        if not event.is_dagster_event:
            progress = parse_progress(event.user_message)
            if progress is not None:
                on_progress(progress)

    return listen


def _sensor_origin(sensor: dg.SensorDefinition):
    """The sensor's origin as a daemon loading `workspace_yaml()` sees it (state is found by its selector)."""
    from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
    from dagster._core.remote_origin import (
        ManagedGrpcPythonEnvCodeLocationOrigin,
        RemoteInstigatorOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=DEFINITIONS_MODULE),
        location_name=CODE_LOCATION,
    )
    return RemoteInstigatorOrigin(RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME), sensor.name)


def _stored_state(instance: dg.DagsterInstance, sensor: dg.SensorDefinition):
    origin = _sensor_origin(sensor)
    return instance.get_instigator_state(origin.get_id(), origin.get_selector().get_id())


def _evaluate(instance: dg.DagsterInstance, sensor: dg.SensorDefinition, storage) -> _Tick:
    """Evaluate the sensor from its stored cursor, as the daemon does."""
    state = _stored_state(instance, sensor)
    cursor = state.instigator_data.cursor if state is not None and state.instigator_data else None
    started = time.time()
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"storage": storage})
    # The sensor's log lines go to the console; what they say is reported with the tick's outcome instead.
    with contextlib.redirect_stderr(io.StringIO()):
        result = sensor(context)
    return _Tick(sensor=sensor, started=started, previous_cursor=cursor, result=result,
                 cursor=cursor if result.cursor is None else result.cursor)


def _add_partitions(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    for request in result.dynamic_partitions_requests or []:
        new = [key for key in request.partition_keys
               if not instance.has_dynamic_partition(request.partitions_def_name, key)]
        if new:
            instance.add_dynamic_partitions(request.partitions_def_name, new)


def _run_key_used(instance: dg.DagsterInstance, sensor_name: str, run_key: str) -> bool:
    """Whether a run of this sensor that did not fail carries the run key: the request is then skipped.

    The daemon skips a used key whatever its run became; here a key whose runs all failed or were canceled
    (a check failed, a worker was killed, Ctrl-C) is run again when a new plan asks for it.
    """
    statuses = [status for status in dg.DagsterRunStatus
                if status not in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)]
    runs = instance.get_run_records(
        filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key, SENSOR_NAME_TAG: sensor_name}, statuses=statuses),
        limit=1,
    )
    return bool(runs)


def _record(instance: dg.DagsterInstance, tick: _Tick) -> None:
    """Store the tick and the sensor's state (cursor, last run key, times) as the sensor daemon does."""
    from dagster._core.definitions.sensor_definition import SensorType
    from dagster._core.scheduler.instigation import (
        InstigatorState,
        InstigatorStatus,
        InstigatorType,
        SensorInstigatorData,
        TickData,
        TickStatus,
    )

    origin = _sensor_origin(tick.sensor)
    origin_id, selector_id = origin.get_id(), origin.get_selector().get_id()
    finished = time.time()
    instance.create_tick(
        TickData(
            instigator_origin_id=origin_id,
            instigator_name=tick.sensor.name,
            instigator_type=InstigatorType.SENSOR,
            status=TickStatus.SUCCESS if tick.run_ids else TickStatus.SKIPPED,
            timestamp=tick.started,
            run_ids=tick.run_ids,
            run_keys=tick.run_keys,
            cursor=tick.cursor,
            selector_id=selector_id,
            end_timestamp=finished,
        )
    )
    state = instance.get_instigator_state(origin_id, selector_id)
    previous = state.instigator_data if state is not None else None
    data = SensorInstigatorData(
        last_tick_timestamp=tick.started,
        last_run_key=tick.run_keys[-1] if tick.run_keys else getattr(previous, "last_run_key", None),
        min_interval=tick.sensor.minimum_interval_seconds,
        cursor=tick.cursor,
        last_tick_start_timestamp=tick.started,
        last_sensor_start_timestamp=getattr(previous, "last_sensor_start_timestamp", None) or tick.started,
        sensor_type=SensorType.STANDARD,
        last_tick_success_timestamp=finished,
    )
    if state is None:
        instance.add_instigator_state(
            InstigatorState(origin, InstigatorType.SENSOR, InstigatorStatus.DECLARED_IN_CODE, data)
        )
    else:
        instance.update_instigator_state(state.with_data(data))


def _refused_configs(previous_cursor: str | None, cursor: str | None) -> list[RunOutcome]:
    """Configs this tick of the deposit sensor could not plan, as failed outcomes that name the problems."""
    from cryoet_assets.lib.watch import WatchCursor

    before = WatchCursor.loads(previous_cursor).configs
    return [
        RunOutcome(job_name="deposit_sensor", partition_key=key, success=False, error=seen.error,
                   kind="config")
        for key, seen in WatchCursor.loads(cursor).configs.items()
        if seen.error and before.get(key) != seen
    ]
