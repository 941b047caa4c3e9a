"""In-process promotion for the `promote` command: the promotion jobs executed partition by partition, parents
first, or (dry run) the same gate and plans computed without changing anything."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

@dataclass
class PartitionPromotion:
    """What promoting one partition did (or, in a dry run, would do); `reason` says why it was refused."""

    level: str
    partition_key: str
    promoted: bool
    copied: int = 0
    copied_bytes: int = 0
    unchanged: int = 0
    deleted: int = 0
    excluded: int = 0
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False  # its run was stopped by Ctrl-C

    def row_counts(self) -> dict[str, int]:
        totals = {"inserted": 0, "updated": 0, "unchanged": 0, "deleted": 0}
        for counts in self.rows.values():
            for name in totals:
                totals[name] += counts.get(name, 0)
        return totals


def promotion_targets(
    instance: dg.DagsterInstance, storage, *, datasets: Sequence[str], depositions: Sequence[str]
) -> list[tuple[str, str]]:
    """(level, partition key) pairs to promote, parents first: each dataset's depositions (from its ingestion
    plan), the dataset and its acquisition runs, and the depositions asked for. No dataset and no deposition
    given means every dataset the instance has ingested."""
    from cryoet_assets.defs.ingestion import load_plan
    from cryoet_assets.defs.partitions import datasets as dataset_partitions

    chosen = list(datasets)
    if not datasets and not depositions:
        chosen = sorted(instance.get_dynamic_partitions(dataset_partitions.name))
    by_level: dict[str, list[str]] = {"deposition": list(dict.fromkeys(depositions)), "dataset": [],
                                      "acquisition_run": []}
    for dataset_id in dict.fromkeys(chosen):
        try:
            plan = load_plan(storage, dataset_id)
        except dg.Failure:
            by_level["dataset"].append(dataset_id)  # refused below: it was never planned
            continue
        for deposition in plan.depositions:
            if str(deposition.id) not in by_level["deposition"]:
                by_level["deposition"].append(str(deposition.id))
        by_level["dataset"].append(dataset_id)
        by_level["acquisition_run"].extend(run.partition_key for run in plan.runs)
    return [(level, key) for level in ("deposition", "dataset", "acquisition_run") for key in by_level[level]]


def promote(
    instance: dg.DagsterInstance,
    storage,
    database,
    targets: Sequence[tuple[str, str]],
    *,
    dry_run: bool = False,
    on_result: Callable[[PartitionPromotion], None] = lambda result: None,
) -> list[PartitionPromotion]:
    """Promote each target, parents first; a partition whose dataset was refused is refused too.

    Not a dry run: each partition is one run of its level's promotion job on `instance`, so the production
    assets, their metadata and lineage are recorded as in the UI. Dry run: the same gate, object plan and row
    comparison, and nothing written anywhere (no run either).
    """
    from cryoet_assets.defs.partitions import BY_LEVEL
    from cryoet_assets.definitions import promotions

    by_level = {promotion.level: promotion for promotion in promotions}
    refused: dict[str, set[str]] = {"deposition": set(), "dataset": set()}
    results = []
    for level, key in targets:
        promotion = by_level[level]
        parent = _refused_parent(storage, level, key, refused)
        if not instance.has_dynamic_partition(BY_LEVEL[level].name, key):
            result = PartitionPromotion(level, key, False, reason="this instance has never ingested it")
        elif parent:
            result = PartitionPromotion(level, key, False, reason=f"its {parent} was not promoted")
        elif dry_run:
            result = _dry_run(instance, promotion, key, storage, database)
        else:
            result = _run(instance, promotion, key)
        if level in refused and not result.promoted:
            refused[level].add(key)
        results.append(result)
        on_result(result)
        if result.interrupted:
            raise KeyboardInterrupt
    return results


def _refused_parent(storage, level: str, key: str, refused: dict[str, set[str]]) -> str:
    """"dataset 10001" or "deposition 10301" when the partition's parent was refused earlier, else ""."""
    from cryoet_assets.defs.ingestion import load_plan
    from cryoet_assets.lib.keys import parse_acquisition_run_key

    if level == "acquisition_run":
        dataset_id = parse_acquisition_run_key(key)[0]
        return f"dataset {dataset_id}" if dataset_id in refused["dataset"] else ""
    if level == "dataset" and refused["deposition"]:
        try:
            deposition = str(load_plan(storage, key).deposition_id)
        except dg.Failure:
            return ""
        return f"deposition {deposition}" if deposition in refused["deposition"] else ""
    return ""


def _process_tag() -> str:
    """The promote command's process, "<host>:<pid>", tagged on each run it executes (`COMMAND_TAG`): a later
    promote tells a run whose process died (kill -9, out of memory, a reboot) from one still going."""
    return f"{socket.gethostname()}:{os.getpid()}"


def fail_abandoned_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Mark failed the promotion runs an earlier promote command of this host left unfinished, and return them.

    A run the promote command executes lives in its process: when that process is killed the run stays
    STARTED for ever (no run launcher watches it), shown in progress in the UI and counted against the run
    and `s3` pool limits of the queued run coordinator. A run is abandoned when its `COMMAND_TAG` names this
    host and a process id that no longer exists. Runs of other hosts, runs without the tag (launched by the
    daemon, watched by its run monitoring) and runs of a live process are left alone; a process id reused
    since by another process leaves its run as it is (never a live run marked failed).
    """
    from cryoet_assets.defs.promotion import COMMAND_TAG, PROMOTION_TAG
    from cryoet_assets.lib.storage import process_alive

    host = socket.gethostname()
    statuses = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    abandoned = []
    for run in instance.get_runs(dg.RunsFilter(statuses=statuses)):
        if PROMOTION_TAG not in run.tags or COMMAND_TAG not in run.tags:
            continue
        run_host, _, pid = run.tags[COMMAND_TAG].rpartition(":")
        if run_host != host or not pid.isdigit() or process_alive(int(pid)):
            continue
        instance.report_run_failed(
            run, message=f"the promote command running it (process {pid} on {host}) ended before the run did"
        )
        abandoned.append(run)
    return abandoned


def _run(instance: dg.DagsterInstance, promotion, key: str) -> PartitionPromotion:
    from cryoet_assets.defs.promotion import COMMAND_TAG
    from cryoet_assets.runner import execute

    outcome = execute(instance, job_name=promotion.job_name, partition_key=key, tags={COMMAND_TAG: _process_tag()})
    if not outcome.success:
        return PartitionPromotion(promotion.level, key, False, reason=outcome.error or "the promotion run failed",
                                  interrupted=outcome.interrupted)
    files = _latest_metadata(instance, promotion.files_key, key)
    rows = _latest_metadata(instance, promotion.rows_key, key)
    return PartitionPromotion(
        promotion.level, key, True,
        copied=files["copied"].value,
        copied_bytes=files["copied_bytes"].value,
        unchanged=files["unchanged"].value,
        deleted=files["deleted"].value,
        excluded=files["excluded"].value,
        rows=rows["row_counts"].value,
        warnings=list(files["warnings"].value) if "warnings" in files else [],
    )


def _latest_metadata(instance: dg.DagsterInstance, asset_key: dg.AssetKey, key: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1
    ).records
    return dict(records[0].asset_materialization.metadata)


def _dry_run(instance: dg.DagsterInstance, promotion, key: str, storage, database) -> PartitionPromotion:
    from cryoet_assets.defs.promotion import judge
    from cryoet_assets.lib.db.sync import SyncError
    from cryoet_assets.lib.promotion.rows import MissingParentError, promote_rows

    gate, plan, rows = judge(instance, promotion, key, storage, database)
    if not gate.passed:
        return PartitionPromotion(promotion.level, key, False, reason="; ".join(gate.refusals))
    summary = plan.summary()
    result = PartitionPromotion(
        promotion.level, key, True, copied=summary["copy"], copied_bytes=summary["copy_bytes"],
        unchanged=summary["unchanged"], deleted=summary["delete"], excluded=summary["excluded"],
        warnings=gate.warnings,
    )
    production = existing_database(database.production_url)
    if production is None:  # the command says it once: every row would be inserted
        return result
    try:
        report = promote_rows(database.staging(), production, rows, **storage.production_prefixes(), dry_run=True)
        result.rows = report.as_dict()
    except MissingParentError as exc:
        result.warnings.append(f"rows wait for their parents: {exc}")
    except SyncError as exc:
        result.promoted, result.reason = False, str(exc)
    finally:
        production.dispose()
    return result


def existing_database(url: str):
    """An engine on the portal database at `url` if it exists and has been migrated, else None; unlike
    `PortalDatabase`, it creates and migrates nothing (a dry run changes nothing)."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from cryoet_assets.families import table_metadata
    from cryoet_assets.lib.db import make_engine

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return None
    table_metadata()
    engine = make_engine(url)
    if not inspect(engine).has_table("alembic_version"):
        engine.dispose()
        return None
    return engine


def describe(result: PartitionPromotion, *, dry_run: bool = False) -> str:
    """One line: level, partition, and what was (would be) copied, kept, deleted and loaded, or why not."""
    head = f"  {result.level:<16} {result.partition_key:<24}"
    if not result.promoted:
        return f"{head} REFUSED: " + "\n      ".join(result.reason.splitlines())
    would = "would " if dry_run else ""
    verbs = ("copy", "delete", "insert", "update") if dry_run else ("copied", "deleted", "inserted", "updated")
    rows = result.row_counts()
    line = (f"{head} {would}{verbs[0]} {result.copied} ({result.copied_bytes / 1e6:.1f} MB), unchanged "
            f"{result.unchanged}, {would}{verbs[1]} {result.deleted}")
    if result.rows:
        line += (f"; rows {would}{verbs[2]} {rows['inserted']}, {would}{verbs[3]} {rows['updated']}, unchanged "
                 f"{rows['unchanged']}, {would}{verbs[1]} {rows['deleted']}")
    return line + "".join(f"\n      warning: {warning}" for warning in result.warnings)
