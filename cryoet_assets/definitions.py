"""The one Definitions object of cryoet-assets; resources are bound to environment variables at run time."""

import importlib

import dagster as dg

from cryoet_assets.defs import ingestion
from cryoet_assets.defs.io_managers import PortalBucketIOManager, PortalDatabaseIOManager
from cryoet_assets.defs.jobs import acquisition_run_job, dataset_job, dataset_plan_job, deposition_job
from cryoet_assets.defs.promotion import build_promotion, build_promotion_fanout_sensor, build_promotion_sensor
from cryoet_assets.defs.resources import PortalDatabase, PortalStorage
from cryoet_assets.defs.sensors import dataset_rollup_sensor, deposit_sensor, plan_sensor
from cryoet_assets.families import FAMILIES, module_name

family_defs = [importlib.import_module(module_name(item, "defs")) for item in FAMILIES]

storage = PortalStorage(
    configs_url=dg.EnvVar("CRYOET_CONFIGS_URL"),
    deposit_url=dg.EnvVar("CRYOET_DEPOSIT_URL"),
    staging_url=dg.EnvVar("CRYOET_STAGING_URL"),
    production_url=dg.EnvVar("CRYOET_PRODUCTION_URL"),
    s3_endpoint_url=dg.EnvVar("CRYOET_S3_ENDPOINT_URL"),
    staging_https_prefix=dg.EnvVar("CRYOET_STAGING_HTTPS_PREFIX"),
    production_https_prefix=dg.EnvVar("CRYOET_PRODUCTION_HTTPS_PREFIX"),
)
database = PortalDatabase(
    staging_url=dg.EnvVar("CRYOET_STAGING_DB_URL"),
    production_url=dg.EnvVar("CRYOET_PRODUCTION_DB_URL"),
)

staging_assets = dg.load_assets_from_modules([ingestion, *family_defs])
staging_checks = dg.load_asset_checks_from_modules(family_defs)
promotions, production_assets, promotion_jobs = build_promotion(staging_assets, staging_checks)

defs = dg.Definitions(
    assets=[*staging_assets, *production_assets],
    asset_checks=staging_checks,
    jobs=[dataset_plan_job, deposition_job, dataset_job, acquisition_run_job, *promotion_jobs],
    # A run is one process: its steps share the imports (dagster, the definitions, great_expectations) and
    # the resources, instead of one process per step.
    executor=dg.in_process_executor,
    sensors=[deposit_sensor, plan_sensor, dataset_rollup_sensor,
             build_promotion_sensor(promotions, promotion_jobs),
             build_promotion_fanout_sensor(promotions, promotion_jobs)],
    resources={
        "storage": storage,
        "database": database,
        "portal_bucket": PortalBucketIOManager(storage=storage),
        "portal_db": PortalDatabaseIOManager(database=database),
    },
)
