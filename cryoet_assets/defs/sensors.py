"""Sensors: new or changed deposits start planning; new plans fan out to depositions, datasets and runs."""


import dagster as dg

from cryoet_assets.defs.ingestion import ingestion_plan, load_plan
from cryoet_assets.defs.jobs import acquisition_run_job, dataset_job, dataset_plan_job, deposition_job
from cryoet_assets.defs.partitions import acquisition_runs, datasets, depositions
from cryoet_assets.defs.resources import PortalStorage

MAX_CONFIGS_PER_TICK = 20
MAX_PLANS_PER_TICK = 20
# The deposit sensor lists the configs and reads deposit markers, so it looks every 30 s. The plan and roll-up
# sensors read only the records after their cursor (one bounded query each), so they look at every loop of the
# sensor daemon, which comes every 5 s at the soonest: each hop of deposit -> plan -> runs -> roll-up waits at
# most that long. Their interval is under the loop's: at 5 s, a sensor's tick, stamped a moment after its
# loop began, is not yet 5 s old at the next loop, so it was evaluated every other loop (every 10 s).
DEPOSIT_INTERVAL_SECONDS = 30
FOLLOW_INTERVAL_SECONDS = 4
DEPOSITION_TAG = "cryoet/deposition"
DATASET_TAG = "cryoet/dataset"

@dg.sensor(job=dataset_plan_job, minimum_interval_seconds=DEPOSIT_INTERVAL_SECONDS,
           default_status=dg.DefaultSensorStatus.RUNNING)
def deposit_sensor(context: dg.SensorEvaluationContext, storage: PortalStorage) -> dg.SensorResult:
    """Plans every dataset whose ingestion config or deposit completion marker (`_DONE`) is new or changed.

    When the deposit bucket holds grant records (`cryoet-assets grant-deposit`), a config whose
    `source_prefix` lies outside every granted folder is not planned, with a warning; it is looked at again
    when it changes or when the granted folders do. Without grant records every config is planned.
    """
    from cryoet_assets.lib.config.loader import ConfigError
    from cryoet_assets.lib.deposit_access import granted_prefixes, grants_version, within_grants
    from cryoet_assets.lib.ingestion import config_objects, load_config_object
    from cryoet_assets.lib.plan import PlanError
    from cryoet_assets.lib.watch import WatchCursor, WatchedConfig, changed_configs, marker_version

    problem = storage.layout_problem()
    if problem:
        # Nothing is planned, and the tick fails with the reason in the UI, until the buckets are set apart.
        raise ValueError(f"no config is planned: {problem}; set CRYOET_STAGING_URL and CRYOET_PRODUCTION_URL "
                         "apart from CRYOET_DEPOSIT_URL and from each other")
    configs, deposit = storage.configs(), storage.deposit()
    cursor = WatchCursor.loads(context.cursor)
    grants: list[list[str]] = []  # the granted folders, listed at most once per tick

    def granted() -> list[str]:
        if not grants:
            grants.append(granted_prefixes(deposit))
        return grants[0]

    refused = [key for key, seen in cursor.configs.items() if seen.refused]
    if refused:
        version = grants_version(granted())
        for key in refused:
            if cursor.configs[key].refused != version:
                del cursor.configs[key]  # the grants changed: judge the config again, as if new
    listed = config_objects(configs)
    changed, _ = changed_configs(listed, cursor, deposit=deposit)
    new_partitions: list[str] = []
    requests: list[dg.RunRequest] = []
    for info in changed[:MAX_CONFIGS_PER_TICK]:
        try:
            loaded = load_config_object(configs, info.key)
            prefix = loaded.data["standardization_config"]["source_prefix"]
            if granted() and not within_grants(prefix, granted()):
                reason = _outside_grants(configs.uri(info.key), prefix, granted())
                context.log.warning(reason)
                cursor.configs[info.key] = WatchedConfig(etag=info.etag, error=reason[:2000],
                                                         refused=grants_version(granted()))
                continue
            marker = marker_version(deposit, prefix)
            dataset_ids = loaded.planner(deposit=deposit, output=storage.staging(), contributors=()).dataset_ids()
        except (ConfigError, PlanError, ValueError) as exc:
            context.log.error(f"{configs.uri(info.key)} cannot be planned:\n{exc}")
            cursor.configs[info.key] = WatchedConfig(etag=info.etag, error=str(exc)[:2000])
            continue
        cursor.configs[info.key] = WatchedConfig(etag=info.etag, marker=marker, source_prefix=prefix)
        for dataset_id in dataset_ids:
            if dataset_id not in new_partitions and not context.instance.has_dynamic_partition(
                datasets.name, dataset_id
            ):
                new_partitions.append(dataset_id)
            requests.append(
                dg.RunRequest(
                    partition_key=dataset_id,
                    run_key=f"plan:{dataset_id}:{loaded.provenance.sha256[:16]}:{marker}",
                    tags={"cryoet/config": loaded.provenance.path},
                )
            )
    listed_keys = {info.key for info in listed}
    for key in [key for key in cursor.configs if key not in listed_keys]:
        del cursor.configs[key]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[datasets.build_add_request(new_partitions)] if new_partitions else [],
        cursor=cursor.dumps(),
    )


def _outside_grants(config_uri: str, source_prefix: str, granted: list[str], *, shown: int = 20) -> str:
    listed = ", ".join(f"{prefix}/" for prefix in granted[:shown])
    more = f" and {len(granted) - shown} more" if len(granted) > shown else ""
    return (
        f"{config_uri} is not planned: its source_prefix {source_prefix!r} lies outside every granted deposit "
        f"folder ({listed}{more}). Grant it with `cryoet-assets grant-deposit` or correct the source_prefix."
    )


@dg.sensor(
    jobs=[deposition_job, dataset_job, acquisition_run_job],
    minimum_interval_seconds=FOLLOW_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def plan_sensor(context: dg.SensorEvaluationContext, storage: PortalStorage) -> dg.SensorResult:
    """For each new ingestion plan: adds its new deposition and run partitions and requests their runs."""
    from cryoet_assets.lib.plan import digest

    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=ingestion_plan.key, after_storage_id=int(context.cursor or 0)),
        limit=MAX_PLANS_PER_TICK,
        ascending=True,
    )
    # Partitions are looked up one by one, never listed: an instance holds every run ever planned.
    new_depositions: list[str] = []
    new_runs: list[str] = []
    requests: list[dg.RunRequest] = []
    last = int(context.cursor or 0)
    for record in result.records:
        last = max(last, record.storage_id)
        plan = load_plan(storage, record.partition_key)
        for deposition in plan.depositions:
            key = str(deposition.id)
            if key not in new_depositions and not context.instance.has_dynamic_partition(depositions.name, key):
                new_depositions.append(key)
            requests.append(
                dg.RunRequest(
                    job_name=deposition_job.name,
                    partition_key=key,
                    run_key=f"deposition:{key}:{digest(deposition.model_dump())}",
                )
            )
        parents = {DEPOSITION_TAG: str(plan.deposition_id)}
        requests.append(
            dg.RunRequest(job_name=dataset_job.name, partition_key=plan.dataset_id,
                          run_key=f"dataset:{plan.dataset_id}:{plan.version}", tags=parents)
        )
        for run in plan.runs:
            key = run.partition_key
            if key not in new_runs and not context.instance.has_dynamic_partition(acquisition_runs.name, key):
                new_runs.append(key)
            requests.append(
                dg.RunRequest(
                    job_name=acquisition_run_job.name,
                    partition_key=run.partition_key,
                    run_key=f"run:{run.partition_key}:{run.content_version}",
                    tags={**parents, DATASET_TAG: plan.dataset_id},
                )
            )
    partition_requests = []
    if new_depositions:
        partition_requests.append(depositions.build_add_request(new_depositions))
    if new_runs:
        partition_requests.append(acquisition_runs.build_add_request(new_runs))
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=partition_requests, cursor=str(last))


@dg.sensor(job=dataset_job, minimum_interval_seconds=FOLLOW_INTERVAL_SECONDS,
           default_status=dg.DefaultSensorStatus.RUNNING)
def dataset_rollup_sensor(context: dg.SensorEvaluationContext, storage: PortalStorage) -> dg.SensorResult:
    """Re-publishes a dataset once all its runs have their content (the families' rollup assets).

    What only the runs give: the key photo fallback to tomogram key images, the file size, the run list.
    """
    from cryoet_assets.families import FAMILIES
    from cryoet_assets.lib.keys import parse_acquisition_run_key

    instance = context.instance
    keys = [dg.AssetKey(item.rollup_asset) for item in FAMILIES if item.rollup_asset]
    last = int(context.cursor or 0)
    # A key whose records were cut by the limit holds the cursor back to where its records stopped.
    stopped: list[int] = []
    touched: dict[str, int] = {}
    for key in keys:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=int(context.cursor or 0)),
            limit=MAX_PLANS_PER_TICK * 50,
            ascending=True,
        )
        for record in result.records:
            last = max(last, record.storage_id)
            dataset_id, _ = parse_acquisition_run_key(record.partition_key)
            touched[dataset_id] = max(touched.get(dataset_id, 0), record.storage_id)
        if result.has_more and result.records:
            stopped.append(result.records[-1].storage_id)
    last = min([last, *stopped])
    requests = []
    for dataset_id, newest in sorted(touched.items()):
        plan = load_plan(storage, dataset_id)
        runs = {run.partition_key for run in plan.runs}
        done = [
            set(instance.get_latest_storage_id_by_partition(
                key, dg.DagsterEventType.ASSET_MATERIALIZATION, partitions=runs))
            for key in keys
        ]
        if all(runs <= materialized for materialized in done):
            requests.append(
                dg.RunRequest(
                    partition_key=dataset_id,
                    run_key=f"rollup:{dataset_id}:{newest}",
                    tags={DEPOSITION_TAG: str(plan.deposition_id)},
                )
            )
    return dg.SensorResult(run_requests=requests, cursor=str(last))
