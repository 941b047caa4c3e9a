"""In-process ingestion: the real sensors and jobs, ticked and executed one after another on one instance."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple
from pathlib import Path

import dagster as dg

PORTAL_DEPOSIT_BUCKET = "cryoetportal-rawdatasets-dev"  # key photo paths in configs start with this bucket name
JOB_ORDER = ("dataset_plan_job", "deposition_job", "dataset_job", "acquisition_run_job")


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
        }

    def apply(self) -> None:
        """Export the settings for the Definitions' EnvVar-bound resources in this process."""
        os.environ.update(self.environment())


class CheckOutcome(NamedTuple):
    name: str
    passed: bool
    text: str
    severity: str = "ERROR"

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


@dataclass
class IngestionReport:
    runs: list[RunOutcome] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(run.success for run in self.runs)

    def checks(self) -> list[tuple[str, CheckOutcome]]:
        """(partition key, check outcome) of every check evaluated, in run order."""
        return [(run.partition_key, check) for run in self.runs for check in run.checks]


def ingest(instance: dg.DagsterInstance, *, log: Callable[[str], None] = print) -> IngestionReport:
    """Tick the deposit sensor, run the plans, tick the plan sensor, run what it asks for, in dependency order."""
    from cryoet_assets.definitions import defs
    from cryoet_assets.defs.sensors import (
        DATASET_TAG,
        DEPOSITION_TAG,
        dataset_rollup_sensor,
        deposit_sensor,
        plan_sensor,
    )

    storage = defs.resources["storage"]
    report = IngestionReport()
    failed: set[tuple[str, str]] = set()
    parent_tags = {"deposition_job": DEPOSITION_TAG, "dataset_job": DATASET_TAG}
    sensors = ((deposit_sensor, "dataset_plan_job"), (plan_sensor, None), (dataset_rollup_sensor, "dataset_job"))
    for sensor, default_job in sensors:
        context = dg.build_sensor_context(instance=instance, resources={"storage": storage})
        result = sensor(context)
        if sensor is deposit_sensor:
            for outcome in _refused_configs(result.cursor):
                log(_describe(outcome))
                report.runs.append(outcome)
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        requests = sorted(result.run_requests or [],
                          key=lambda r: JOB_ORDER.index(r.job_name or default_job))
        for request in requests:
            job_name = request.job_name or default_job
            blocked = [f"{tag.split('/')[-1]} {key}" for tag, key in request.tags.items() if (tag, key) in failed]
            if blocked:
                # The daemon would let these wait for their parent rows; in one process we know they never come.
                outcome = RunOutcome(job_name=job_name, partition_key=request.partition_key, success=False,
                                     error=f"skipped: {', '.join(blocked)} did not load")
            else:
                outcome = execute(instance, job_name=job_name, partition_key=request.partition_key,
                                  tags=request.tags)
            if not outcome.success and job_name in parent_tags:
                failed.add((parent_tags[job_name], request.partition_key))
            log(_describe(outcome))
            report.runs.append(outcome)
    return report


def execute(instance: dg.DagsterInstance, *, job_name: str, partition_key: str, tags=None) -> RunOutcome:
    """Execute one partition of one job in this process; never raises for a failed step."""
    from cryoet_assets.definitions import defs

    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        tags=dict(tags or {}),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    checks = [
        CheckOutcome(evaluation.check_name, evaluation.passed, evaluation.description or "",
                     evaluation.severity.value if evaluation.severity else "ERROR")
        for evaluation in result.get_asset_check_evaluations()
    ]
    error = ""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error.message.strip() if event.step_failure_data.error else ""
            break
    return RunOutcome(job_name=job_name, partition_key=partition_key, success=result.success, checks=checks,
                      error=error)


def _refused_configs(cursor: str | None) -> list[RunOutcome]:
    """Configs the deposit sensor could not plan, as failed outcomes that name the problems."""
    from cryoet_assets.lib.watch import WatchCursor

    return [
        RunOutcome(job_name="deposit_sensor", partition_key=key, success=False, error=seen.error)
        for key, seen in WatchCursor.loads(cursor).configs.items()
        if seen.error
    ]


def _describe(outcome: RunOutcome) -> str:
    state = "ok" if outcome.success else "FAILED"
    passed = sum(1 for check in outcome.checks if check.passed)
    warned = sum(1 for check in outcome.checks if check.warned)
    line = f"  {outcome.job_name:<20} {outcome.partition_key:<20} {state:<6} checks {passed}/{len(outcome.checks)} passed"
    if warned:
        line += f", {warned} warned"
    if outcome.error:
        line += "\n    " + outcome.error.replace("\n", "\n    ")
    return line
