"""Production promotion: a partition's staging outputs copied to the production bucket and its rows loaded into
the production database, only when every blocking check passed on the exact staging content that is copied.

One multi-asset per partition level (`production/<level>_files` then `production/<level>_rows`), built from the
staging assets and checks of the families at that level, so a new family joins promotion by being registered.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg

from cryoet_assets.defs.partitions import BY_LEVEL
from cryoet_assets.defs.resources import PortalDatabase, PortalStorage
from cryoet_assets.defs.sensors import FOLLOW_INTERVAL_SECONDS
from cryoet_assets.families import families_at

GROUP = "production"
PROMOTION_TAG = "cryoet/promotion"
PARTITION_TAG = "dagster/partition"
# Promotion of a level waits for its parents' rows in production; the promote command runs the levels in this order.
LEVEL_ORDER = ("deposition", "dataset", "acquisition_run")
PROMOTION_INTERVAL_SECONDS = 30
FANOUT_INTERVAL_SECONDS = FOLLOW_INTERVAL_SECONDS  # every loop of the sensor daemon
# Runs of the `promote` command carry it: the command promotes the depositions and runs itself.
COMMAND_TAG = "cryoet/promoted_by"
MAX_PROMOTIONS_PER_TICK = 50
LISTED_KEYS = 25


@dataclass(frozen=True)
class LevelPromotion:
    """What promotes one partition level: its production assets, and the staging assets and checks it gates on."""

    level: str
    files_key: dg.AssetKey
    rows_key: dg.AssetKey
    staging_keys: tuple[dg.AssetKey, ...]
    check_keys: tuple[dg.AssetCheckKey, ...]

    @property
    def job_name(self) -> str:
        # A curator promotes a dataset with `promotion_job`; `promotion_fanout_sensor` adds its depositions and runs.
        return "promotion_job" if self.level == "dataset" else f"{self.level}_promotion_job"


@dataclass
class Gate:
    """The verdict on one partition: the staging materializations it would copy and why it may not."""

    materializations: dict[str, int] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # `content_digest` of the partition's staging objects as the last materialization writing them left them.
    staging_digest: str | None = None

    def refuse_changed_staging(self, plan) -> None:
        """Refuse when the staging objects `plan` would promote are not those the materializations left (a file
        edited, added or deleted since, or another staging bucket)."""
        if self.staging_digest is None:
            self.refusals.append("no materialization recorded its staging objects: materialize it again")
        elif plan.staging_digest() != self.staging_digest:
            self.refusals.append(
                "its staging objects are not those its last materialization wrote (edited, added or deleted "
                "since, or another staging bucket): materialize it again so that its checks see them"
            )

    @property
    def passed(self) -> bool:
        return not self.refusals

    @property
    def content_version(self) -> str:
        """Digest of the staging materializations (asset -> event storage id) the checks passed on."""
        text = json.dumps(self.materializations, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def evaluate_gate(
    instance: dg.DagsterInstance, promotion: LevelPromotion, partition_key: str, *, own_run_id: str | None = None
) -> Gate:
    """May `partition_key` be promoted? Every staging asset of its level materialized, each blocking check's
    latest result for the partition passed (a WARN failure is reported, not refused) on the asset's latest
    materialization, and no other run is materializing the partition now. Bounded queries: one per asset, one
    for the checks, one for the partition's runs in progress.
    """
    from cryoet_assets.defs.io_managers import SCOPE_DIGEST

    gate = Gate()
    latest: dict[dg.AssetKey, int] = {}
    digests: dict[int, str] = {}
    for key in promotion.staging_keys:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition_key]), limit=1
        ).records
        if not records:
            gate.refusals.append(f"{key.to_user_string()} has not been materialized for {partition_key}")
            continue
        latest[key] = records[0].storage_id
        gate.materializations[key.to_user_string()] = records[0].storage_id
        digest = records[0].asset_materialization.metadata.get(SCOPE_DIGEST)
        if digest is not None:
            digests[records[0].storage_id] = digest.value
    gate.staging_digest = digests[max(digests)] if digests else None
    _judge_checks(instance, promotion, partition_key, latest, gate)
    busy = _runs_in_progress(instance, partition_key, own_run_id=own_run_id)
    if busy:
        gate.refusals.append(f"staging is being materialized for {partition_key} by run {', '.join(busy)}")
    return gate


def _judge_checks(instance, promotion: LevelPromotion, partition_key: str, latest: dict, gate: Gate) -> None:
    from dagster._core.event_api import PartitionKeyFilter
    from dagster._core.storage.asset_check_execution_record import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES

    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        list(promotion.check_keys), partition_filter=PartitionKeyFilter(key=partition_key)
    )
    for check_key in promotion.check_keys:
        name = f"check {check_key.name} of {check_key.asset_key.to_user_string()}"
        record = records.get(check_key)
        done = record is not None and record.status in COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
        evaluation = record.evaluation if done else None
        if record is None:
            gate.refusals.append(f"{name} has not run for {partition_key}")
        elif evaluation is None:
            run = instance.get_run_by_id(record.run_id)
            if run is None or run.is_finished:
                state = run.status.value.lower() if run is not None else "gone"
                gate.refusals.append(f"{name} did not finish in run {record.run_id} ({state}): run it again")
            else:
                gate.refusals.append(f"{name} is running for {partition_key} (run {record.run_id})")
        elif check_key.asset_key in latest and (
            evaluation.target_materialization_data is None
            or evaluation.target_materialization_data.storage_id != latest[check_key.asset_key]
        ):
            gate.refusals.append(
                f"{name} last ran on an earlier materialization than the latest: run the check again"
            )
        elif not evaluation.passed:
            reason = f"{name} failed: {evaluation.description or 'no description'}"
            if evaluation.severity == dg.AssetCheckSeverity.WARN:
                gate.warnings.append(reason)
            else:
                gate.refusals.append(reason)


def _runs_in_progress(instance, partition_key: str, *, own_run_id: str | None) -> list[str]:
    """Runs other than promotions that are queued or executing for this partition."""
    statuses = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED]
    runs = instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: partition_key}, statuses=statuses), limit=20)
    return [
        run.run_id for run in runs
        if run.run_id != own_run_id and PROMOTION_TAG not in run.tags and not _only_production(run.asset_selection)
    ]


def _only_production(selection) -> bool:
    return bool(selection) and all(key.path[0] == GROUP for key in selection)


def judge(
    instance: dg.DagsterInstance, promotion: LevelPromotion, partition_key: str, storage: PortalStorage,
    database: PortalDatabase, *, own_run_id: str | None = None,
):
    """Everything checked before anything of `partition_key` changes in production: staging and production are
    distinct, the gate (`evaluate_gate`), the staging database holds the partition's rows, and its staging
    objects are those its last materialization wrote. Returns (gate, object plan, row scope); the plan is None
    when the partition was refused before it was planned. Reads only.
    """
    from cryoet_assets.families import partition_rows
    from cryoet_assets.lib.db.sync import row_exists
    from cryoet_assets.lib.promotion.objects import partition_scope, plan_objects

    rows = partition_rows(promotion.level, partition_key)
    problem = distinct_problem(storage, database)
    if problem:
        return Gate(refusals=[problem]), None, rows
    gate = evaluate_gate(instance, promotion, partition_key, own_run_id=own_run_id)
    if not gate.passed:
        return gate, None, rows
    if not row_exists(database.staging(), rows.root_table, rows.root):
        # Its staging rows were loaded (the gate saw them materialized): this is another staging database.
        gate.refusals.append(f"the staging database {database.staging_url} has no {rows}: is it the one "
                             "the partition was ingested into?")
        return gate, None, rows
    plan = plan_objects(storage.staging(), storage.production(), partition_scope(promotion.level, partition_key))
    gate.refuse_changed_staging(plan)
    return gate, plan, rows


def require_unchanged(
    instance: dg.DagsterInstance, promotion: LevelPromotion, partition_key: str, gate: Gate, *,
    own_run_id: str | None = None,
) -> None:
    """Raise a dg.Failure (not retried) unless the gate of `partition_key` still passes on the staging
    materializations `gate` passed on: called between the data and the metadata documents, and before the rows."""
    again = evaluate_gate(instance, promotion, partition_key, own_run_id=own_run_id)
    if again.content_version != gate.content_version or not again.passed:
        raise dg.Failure(
            f"staging changed for {partition_key} while it was being promoted "
            f"({'; '.join(again.refusals) or 'a newer materialization'}); no metadata document was copied after "
            "it: run its checks again, then promote again",
            allow_retries=False,
        )


def distinct_problem(storage: PortalStorage, database: PortalDatabase) -> str:
    """Why staging and production are not two separate buckets and two databases, or "": promoting onto or
    into staging would rewrite it."""
    from sqlalchemy.engine import make_url

    from cryoet_assets.lib.storage import overlap_problem

    problem = overlap_problem({"staging": storage.staging(), "production": storage.production()})
    if problem:
        return problem
    if make_url(database.staging_url) == make_url(database.production_url):
        url = make_url(database.staging_url).render_as_string(hide_password=True)
        return f"the production database is the staging database ({url})"
    return ""


def _refusal_failure(partition_key: str, gate: Gate) -> dg.Failure:
    lines = "\n".join(f"- {reason}" for reason in gate.refusals)
    return dg.Failure(
        description=f"{partition_key} is not promoted; nothing of it changed in production:\n{lines}",
        metadata={"refused": dg.MetadataValue.md(lines), "staging_materializations": gate.materializations},
        allow_retries=False,
    )


def build_promotion(
    assets: Sequence[dg.AssetsDefinition], checks: Sequence[dg.AssetChecksDefinition]
) -> tuple[list[LevelPromotion], list[dg.AssetsDefinition], list]:
    """The promotion of every level: its descriptions, production multi-assets and jobs.

    Each level gates on the assets of the groups of its families (facts §6: the portal's promotion had no gate)
    and on every blocking check of those assets.
    """
    promotions, production, jobs = [], [], []
    specs = [spec for item in assets for spec in item.specs]
    check_specs = [spec for item in [*assets, *checks] for spec in item.check_specs]
    for level in LEVEL_ORDER:
        groups = {item.group for item in families_at(level)}
        level_specs = [spec for spec in specs if spec.group_name in groups]
        keys = tuple(spec.key for spec in level_specs)
        promotion = LevelPromotion(
            level=level,
            files_key=dg.AssetKey([GROUP, f"{level}_files"]),
            rows_key=dg.AssetKey([GROUP, f"{level}_rows"]),
            staging_keys=keys,
            check_keys=tuple(spec.key for spec in check_specs if spec.asset_key in keys and spec.blocking),
        )
        files_deps = [spec.key for spec in level_specs if "sql" not in spec.kinds]
        rows_deps = [spec.key for spec in level_specs if "sql" in spec.kinds]
        promotions.append(promotion)
        production.append(_promotion_asset(promotion, files_deps, rows_deps))
        jobs.append(
            dg.define_asset_job(
                promotion.job_name,
                selection=dg.AssetSelection.assets(promotion.files_key, promotion.rows_key),
                partitions_def=BY_LEVEL[level],
                tags={PROMOTION_TAG: level},
                description=(
                    "Promote datasets whose blocking checks passed to production; their depositions and "
                    "acquisition runs follow (promotion_fanout_sensor)." if level == "dataset" else
                    f"Promote {level} partitions whose blocking checks passed to production."
                ),
            )
        )
    return promotions, production, jobs


def _promotion_asset(promotion: LevelPromotion, files_deps: list, rows_deps: list) -> dg.AssetsDefinition:
    level = promotion.level

    @dg.multi_asset(
        name=f"promote_{level}",
        partitions_def=BY_LEVEL[level],
        specs=[
            dg.AssetSpec(
                promotion.files_key, deps=files_deps, group_name=GROUP, kinds={"s3"},
                description=f"The {level}'s staging outputs, copied to the production bucket once its checks passed.",
            ),
            dg.AssetSpec(
                promotion.rows_key, deps=[promotion.files_key, *rows_deps], group_name=GROUP, kinds={"sql"},
                description=f"The {level}'s staging rows in the production database, with staging's ids.",
            ),
        ],
        pool="s3",
    )
    def promote(context: dg.AssetExecutionContext, storage: PortalStorage, database: PortalDatabase):
        yield from _promote(context, promotion, storage, database)

    return promote


def _promote(context: dg.AssetExecutionContext, promotion: LevelPromotion, storage: PortalStorage,
             database: PortalDatabase):
    from cryoet_assets.defs.parents import retry_step
    from cryoet_assets.lib.db.sync import SyncError
    from cryoet_assets.lib.promotion.objects import ContentChangedError, promote_objects
    from cryoet_assets.lib.promotion.rows import MissingParentError, promote_rows

    key = context.partition_key
    gate, plan, rows = judge(context.instance, promotion, key, storage, database, own_run_id=context.run_id)
    if not gate.passed:
        raise _refusal_failure(key, gate)
    for warning in gate.warnings:
        context.log.warning(warning)
    prefixes = storage.production_prefixes()
    staging_db, production_db = database.staging(), database.production()
    try:
        # Parents (and id conflicts) are checked before any object is copied.
        promote_rows(staging_db, production_db, rows, **prefixes, dry_run=True)
    except MissingParentError as exc:
        if COMMAND_TAG in context.run.tags:  # the command promotes parents first: this one was refused
            raise dg.Failure(f"{key} is not promoted; nothing of it changed in production: {exc}",
                             allow_retries=False) from exc
        raise retry_step(database, context.retry_number) from exc
    except SyncError as exc:
        raise dg.Failure(f"{key} is not promoted; nothing of it changed in production: {exc}",
                         allow_retries=False) from exc

    def still_current() -> None:
        require_unchanged(context.instance, promotion, key, gate, own_run_id=context.run_id)

    staging, production = storage.staging(), storage.production()
    try:
        report = promote_objects(plan, staging, production, before_metadata=still_current)
        still_current()  # the rows, read next, must be those of the same materializations
    except ContentChangedError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    version = dg.DataVersion(gate.content_version)
    yield dg.MaterializeResult(
        asset_key=promotion.files_key, data_version=version, metadata=_files_metadata(plan, report, gate, production)
    )
    sync = promote_rows(staging_db, production_db, rows, **prefixes)
    yield dg.MaterializeResult(
        asset_key=promotion.rows_key,
        data_version=version,
        metadata={
            "rows": dg.MetadataValue.md(_rows_table(sync.as_dict())),
            "row_counts": dg.MetadataValue.json(sync.as_dict()),
            "changed": sync.changed,
            "database_url": production_db.url.render_as_string(hide_password=True),
        },
    )


def _files_metadata(plan, report, gate: Gate, production) -> dict:
    copied = report.copied
    listed = "\n".join(f"- `{key}`" for key in copied[:LISTED_KEYS])
    if len(copied) > LISTED_KEYS:
        listed += f"\n- … and {len(copied) - LISTED_KEYS} more"
    metadata = {
        "copied": len(copied),
        "copied_bytes": report.copied_bytes,
        "unchanged": report.unchanged,
        "deleted": len(report.deleted),
        "excluded": len(plan.excluded),
        "seconds": round(report.seconds, 3),
        "production": dg.MetadataValue.path(production.uri("")),
        "content_version": gate.content_version,
        "staging_materializations": dg.MetadataValue.json(gate.materializations),
    }
    if copied:
        metadata["copied_objects"] = dg.MetadataValue.md(listed)
    if report.deleted:
        metadata["deleted_objects"] = dg.MetadataValue.json(report.deleted[:LISTED_KEYS])
    if gate.warnings:
        metadata["warnings"] = dg.MetadataValue.json(gate.warnings)
    return metadata


def _rows_table(counts: dict[str, dict[str, int]]) -> str:
    lines = ["| table | inserted | updated | unchanged | deleted |", "|---|---|---|---|---|"]
    for table, row in counts.items():
        lines.append(f"| {table} | {row['inserted']} | {row['updated']} | {row['unchanged']} | {row['deleted']} |")
    return "\n".join(lines)


PROMOTION_SENSOR_DESCRIPTION = (
    "Stopped by default: promotion is a curator's act (launch promotion_job for a dataset partition, or run "
    "`cryoet-assets promote`). Started, it promotes every partition whose blocking checks have passed since its "
    "last tick, one run per partition and content version."
)


def build_promotion_sensor(promotions: Sequence[LevelPromotion], jobs: Sequence) -> dg.SensorDefinition:
    """A sensor, stopped by default, that promotes the partitions whose blocking checks passed since its last tick.

    Promotion is a curator's act unless an operator starts it. It reads the check results recorded after its
    cursor (bounded), judges each partition they name with `evaluate_gate`, and requests one promotion run per
    partition and content version.
    """
    level_of = {check_key: promotion for promotion in promotions for check_key in promotion.check_keys}

    @dg.sensor(name="promotion_sensor", jobs=list(jobs), minimum_interval_seconds=PROMOTION_INTERVAL_SECONDS,
               default_status=dg.DefaultSensorStatus.STOPPED, description=PROMOTION_SENSOR_DESCRIPTION)
    def promotion_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        after = int(context.cursor or 0)
        infos = context.instance.event_log_storage.get_asset_check_partition_info(
            list(level_of), after_storage_id=after
        )
        last = after
        candidates: dict[tuple[str, str], LevelPromotion] = {}
        for info in sorted(infos, key=lambda item: item.latest_check_event_storage_id):
            if len(candidates) >= MAX_PROMOTIONS_PER_TICK:
                break
            last = max(last, info.latest_check_event_storage_id)
            if info.partition_key is None:
                continue
            promotion = level_of[info.check_key]
            candidates[(promotion.level, info.partition_key)] = promotion
        requests = []
        for (level, partition_key), promotion in candidates.items():
            gate = evaluate_gate(context.instance, promotion, partition_key)
            if gate.passed:
                requests.append(dg.RunRequest(job_name=promotion.job_name, partition_key=partition_key,
                                              run_key=f"promote:{level}:{partition_key}:{gate.content_version}"))
            else:
                context.log.info(f"{level} {partition_key} not promoted: {'; '.join(gate.refusals)}")
        return dg.SensorResult(run_requests=requests, cursor=str(last))

    return promotion_sensor


def build_promotion_fanout_sensor(promotions: Sequence[LevelPromotion], jobs: Sequence) -> dg.SensorDefinition:
    """A sensor that makes `promotion_job` promote a whole dataset: when a curator launches it for a dataset,
    the dataset's depositions (whose rows its own wait for) are promoted; once the dataset's rows are in
    production, its acquisition runs are. The dataset's plan says which they are. Runs of the promotion sensor
    and of the `promote` command are left alone: they request their partitions themselves.
    """
    from cryoet_assets.defs.ingestion import load_plan

    by_level = {promotion.level: promotion for promotion in promotions}
    dataset, deposition, run = by_level["dataset"], by_level["deposition"], by_level["acquisition_run"]
    level_jobs = [job for job in jobs if job.name in (deposition.job_name, run.job_name)]

    @dg.sensor(name="promotion_fanout_sensor", jobs=level_jobs, minimum_interval_seconds=FANOUT_INTERVAL_SECONDS,
               default_status=dg.DefaultSensorStatus.RUNNING)
    def promotion_fanout_sensor(context: dg.SensorEvaluationContext, storage: PortalStorage) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {"run": None, "rows": 0}
        requests = []
        started = context.instance.get_run_records(
            dg.RunsFilter(job_name=dataset.job_name), limit=MAX_PROMOTIONS_PER_TICK, order_by="id", ascending=True,
            cursor=cursor["run"],
        )
        for record in started:
            cursor["run"] = record.dagster_run.run_id
            key = record.dagster_run.tags.get(PARTITION_TAG)
            if key is None or not _curators(record.dagster_run):
                continue
            for item in load_plan(storage, key).depositions:
                requests.append(dg.RunRequest(job_name=deposition.job_name, partition_key=str(item.id),
                                              run_key=f"promote-with:{record.dagster_run.run_id}:{item.id}"))
        promoted = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dataset.rows_key, after_storage_id=cursor["rows"]),
            limit=MAX_PROMOTIONS_PER_TICK, ascending=True,
        )
        for record in promoted.records:
            cursor["rows"] = record.storage_id
            by = context.instance.get_run_by_id(record.run_id)
            if by is None or by.job_name != dataset.job_name or not _curators(by):
                continue
            for item in load_plan(storage, record.partition_key).runs:
                requests.append(dg.RunRequest(job_name=run.job_name, partition_key=item.partition_key,
                                              run_key=f"promote-with:{record.run_id}:{item.partition_key}"))
        if not started and not promoted.records:
            return dg.SensorResult(skip_reason="no dataset promotion since the last tick")
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor))

    return promotion_fanout_sensor


def _curators(run: dg.DagsterRun) -> bool:
    """Launched by a curator (the UI, a backfill), not by the promotion sensor or the `promote` command."""
    return run.tags.get("dagster/sensor_name") != "promotion_sensor" and COMMAND_TAG not in run.tags
