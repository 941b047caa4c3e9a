"""Per-dataset ingestion config and plan: where every other asset starts."""


from typing import Any

import dagster as dg

from cryoet_assets.defs.partitions import datasets
from cryoet_assets.defs.resources import PortalStorage
from cryoet_assets.families import run_contributors
from cryoet_assets.lib.config.loader import ConfigError
from cryoet_assets.lib.ingestion import LoadedConfig, find_dataset_config
from cryoet_assets.lib.plan import ConfigProvenance, DatasetPlan, PlanError, describe_not_ingested

GROUP = "ingestion"


def plan_failure(exc: Exception) -> dg.Failure:
    """A Failure whose description is the config or plan error, one problem per line."""
    return dg.Failure(description=str(exc), allow_retries=False)


@dg.asset(partitions_def=datasets, group_name=GROUP, io_manager_key="portal_bucket", kinds={"yaml"})
def ingestion_config(context: dg.AssetExecutionContext, storage: PortalStorage) -> dg.Output[dict[str, Any]]:
    """The portal-format ingestion config that names this dataset, validated."""
    try:
        loaded = find_dataset_config(
            context.partition_key, configs=storage.configs(), deposit=storage.deposit(), output=storage.staging()
        )
    except (ConfigError, PlanError, ValueError) as exc:
        raise plan_failure(exc) from exc
    for warning in loaded.warnings:
        context.log.warning(warning)
    value = {"provenance": loaded.provenance.model_dump(), "config": loaded.data}
    return dg.Output(
        value,
        metadata={
            "config_file": dg.MetadataValue.path(loaded.provenance.path),
            "config_sha256": loaded.provenance.sha256,
            "config_version": loaded.data.get("version"),
            "deposition_id": loaded.data["standardization_config"]["deposition_id"],
            "config_warnings": dg.MetadataValue.md("\n".join(f"- {line}" for line in loaded.warnings) or "none"),
        },
    )


@dg.asset(partitions_def=datasets, group_name=GROUP, io_manager_key="portal_bucket", kinds={"json"})
def ingestion_plan(
    context: dg.AssetExecutionContext, storage: PortalStorage, ingestion_config: dict[str, Any]
) -> dg.Output[DatasetPlan]:
    """The config's finders resolved against the deposit: depositions, runs, voxel spacings, source files."""
    loaded = LoadedConfig(
        provenance=ConfigProvenance.model_validate(ingestion_config["provenance"]), data=ingestion_config["config"]
    )
    try:
        planner = loaded.planner(
            deposit=storage.deposit(), output=storage.staging(), contributors=run_contributors()
        )
        plan = planner.plan(context.partition_key)
    except (PlanError, ValueError) as exc:
        raise plan_failure(exc) from exc
    not_ingested = describe_not_ingested(plan.not_ingested)
    if plan.not_ingested:
        context.log.warning(f"{plan.config.path}: not ingested yet: {not_ingested}")
    return dg.Output(
        plan,
        metadata={
            "config_file": dg.MetadataValue.path(plan.config.path),
            "config_sha256": plan.config.sha256,
            "plan_version": plan.version,
            "depositions": [dep.id for dep in plan.depositions],
            "runs": len(plan.runs),
            "run_names": dg.MetadataValue.json([run.name for run in plan.runs]),
            "voxel_spacings": dg.MetadataValue.json(sorted({v for run in plan.runs for v in run.voxel_spacings})),
            "source_files_found": sum(run.source_file_count for run in plan.runs),
            "deposit_root": dg.MetadataValue.path(storage.deposit().uri(plan.source_path or "")),
            "not_ingested_yet": not_ingested,
            "not_ingested_sources": dg.MetadataValue.json(plan.not_ingested),
        },
    )


def load_plan(storage: PortalStorage, dataset_id: str) -> DatasetPlan:
    """The last materialized plan of a dataset, read from the staging bucket."""
    from cryoet_assets.lib.documents import read_manifest

    try:
        manifest = read_manifest(storage.staging(), ingestion_plan.key.path[-1], dataset_id)
    except FileNotFoundError:
        raise dg.Failure(
            f"dataset {dataset_id} has no ingestion_plan yet; materialize ingestion_plan for it first"
        ) from None
    return DatasetPlan.model_validate(manifest["value"])
