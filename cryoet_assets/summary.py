"""What an ingestion made, printed for a curator."""

from __future__ import annotations

from cryoet_assets.lib.paths import STATE_PREFIX
from cryoet_assets.lib.plan import DatasetPlan, describe_not_ingested


PARTITIONS_OF_JOB = {
    "deposition_job": "depositions", "dataset_plan_job": "datasets", "dataset_job": "datasets",
    "acquisition_run_job": "acquisition_runs",
}


def print_summary(report, *, settings) -> None:
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from cryoet_assets.families import migration_locations, table_metadata
    from cryoet_assets.lib.db import make_engine
    from cryoet_assets.lib.db.migrate import upgrade
    from cryoet_assets.lib.storage import open_bucket

    # Only what this ingest ran: the instance may hold every partition ever planned.
    touched: dict[str, list[str]] = {name: [] for name in PARTITIONS_OF_JOB.values()}
    for run in report.runs:
        keys = touched.get(PARTITIONS_OF_JOB.get(run.job_name, ""))
        if keys is not None and run.partition_key not in keys:
            keys.append(run.partition_key)
    print("\nPartitions this ingest ran:")
    for name, keys in touched.items():
        print(f"  {name:<17} {len(keys):>3}  {', '.join(keys)}")

    staging = open_bucket(settings.staging_url, endpoint_url=settings.s3_endpoint_url or None)
    print("\nConfigs:")
    configs = _configs(staging, touched["datasets"])
    for path, (dataset_ids, not_ingested) in configs.items():
        print(f"  {path}  datasets {', '.join(dataset_ids)}")
        print(f"    not ingested yet: {describe_not_ingested(not_ingested)}")

    checks = report.checks()
    warned = [(partition, check) for partition, check in checks if check.warned]
    failed = [(partition, check) for partition, check in checks if not check.passed and not check.warned]
    print(f"\nChecks: {len(checks) - len(failed) - len(warned)} passed, {len(warned)} warned, {len(failed)} failed")
    for label, items in (("WARNING", warned), ("FAILED", failed)):
        for partition, check in items:
            # The text names each failure's reason, where, and its expectation with counts.
            print(f"  {label} {check.name} [{partition}]: {check.text}")
    broken = [run for run in report.runs if not run.success]
    for run in broken:
        lines = run.error.splitlines()
        reason = f" {lines[0]}" if len(lines) == 1 else "".join(f"\n    {line}" for line in lines)
        what = {"run": "run failed", "tick": "tick failed", "config": "not planned"}[run.kind]
        print(f"  {what}: {run.job_name} [{run.partition_key}]:{reason}")

    print("\nRows in the staging database:")
    try:
        upgrade(settings.staging_db_url, version_locations=migration_locations())
        engine = make_engine(settings.staging_db_url)
        with engine.connect() as connection:
            for table in table_metadata().sorted_tables:
                count = connection.execute(select(func.count()).select_from(table)).scalar_one()
                print(f"  {table.name:<24} {count}")
        engine.dispose()
    except (OSError, SQLAlchemyError) as exc:  # the runs that failed say why too
        print(f"  cannot read it: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}")

    print(f"\nOutputs in {staging.uri('')}:")
    zarrs: set[str] = set()
    for info in staging.list(""):
        if info.key.startswith(f"{STATE_PREFIX}/"):
            continue
        folder, dot_zarr, _ = info.key.partition(".zarr/")
        if not dot_zarr:
            print(f"  {info.key}  ({info.size} B)")
        elif folder not in zarrs:
            zarrs.add(folder)
            print(f"  {folder}.zarr/  (OME-Zarr: levels 0, 1, 2)")


def _configs(staging, dataset_ids: list[str]) -> dict[str, tuple[list[str], dict[str, int]]]:
    """config path -> (its planned datasets, its sections not ingested yet), from the materialized plans."""
    from cryoet_assets.lib.documents import read_manifest

    configs: dict[str, tuple[list[str], dict[str, int]]] = {}
    for dataset_id in dataset_ids:
        try:
            plan = DatasetPlan.model_validate(read_manifest(staging, "ingestion_plan", dataset_id)["value"])
        except FileNotFoundError:
            continue
        configs.setdefault(plan.config.path, ([], plan.not_ingested))[0].append(dataset_id)
    return configs
