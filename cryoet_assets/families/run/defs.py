"""Acquisition-run-level assets: run metadata, voxel spacings, database rows, and their validation gate."""


import dagster as dg

from cryoet_assets.defs.checks import check_result
from cryoet_assets.defs.ingestion import ingestion_plan, load_plan
from cryoet_assets.defs.parents import require_parent
from cryoet_assets.defs.partitions import acquisition_runs
from cryoet_assets.defs.resources import PortalDatabase, PortalStorage
from cryoet_assets.families.run import FAMILY
from cryoet_assets.families.run.documents import run_document
from cryoet_assets.families.run.manifest import RunManifest
from cryoet_assets.lib.documents import PortalDocuments
from cryoet_assets.lib.keys import parse_acquisition_run_key
from cryoet_assets.lib.paths import (
    deposition_metadata_path,
    run_metadata_path,
    voxel_spacing_dir,
    voxel_spacing_name,
)

GROUP = FAMILY.group
FROM_PLANS = [dg.AssetDep(ingestion_plan, partition_mapping=dg.AllPartitionMapping())]


@dg.asset(partitions_def=acquisition_runs, group_name=GROUP, io_manager_key="portal_bucket", deps=FROM_PLANS,
          kinds={"json"})
def run_metadata(context: dg.AssetExecutionContext, storage: PortalStorage) -> dg.Output[PortalDocuments]:
    """`{dataset}/{run}/run_metadata.json`, as the portal lays it out."""
    dataset_id, run_name = parse_acquisition_run_key(context.partition_key)
    plan = load_plan(storage, dataset_id)
    run = plan.run(run_name)
    path = run_metadata_path(dataset_id, run_name)
    return dg.Output(
        PortalDocuments(
            documents={path: run_document(run_name=run_name, deposition_id=plan.deposition_id)},
            summary=RunManifest(dataset_id=dataset_id, run_name=run_name, deposition_id=plan.deposition_id),
        ),
        metadata={
            "config_file": dg.MetadataValue.path(plan.config.path),
            "source": dg.MetadataValue.path(storage.deposit().uri(run.source_path or "")),
            "source_files": run.source_file_count,
            "content_version": run.content_version,
        },
    )


@dg.asset(partitions_def=acquisition_runs, group_name=GROUP, io_manager_key="portal_bucket", deps=FROM_PLANS,
          kinds={"json"})
def voxel_spacings(context: dg.AssetExecutionContext, storage: PortalStorage) -> dg.Output[dict]:
    """The run's planned voxel spacings, for their names' check; nothing is written at their paths.

    A `Reconstructions/VoxelSpacing{vs}` folder appears only when a tomogram is published in it, and its
    database row follows the folder (see `tomogram_db_rows`).
    """
    dataset_id, run_name = parse_acquisition_run_key(context.partition_key)
    run = load_plan(storage, dataset_id).run(run_name)
    spacings = [
        {"value": value, "name": voxel_spacing_name(value), "path": voxel_spacing_dir(dataset_id, run_name, value)}
        for value in run.voxel_spacings
    ]
    return dg.Output(
        {"dataset_id": dataset_id, "run_name": run_name, "voxel_spacings": spacings},
        metadata={"voxel_spacings": dg.MetadataValue.json([item["name"] for item in spacings])},
    )


@dg.asset_check(asset=run_metadata, partitions_def=acquisition_runs, blocking=True)
def run_metadata_valid(storage: PortalStorage, run_metadata: PortalDocuments) -> dg.AssetCheckResult:
    """Run metadata names its folder and its deposition exists."""
    from cryoet_assets.families.run.validation import validate_run

    (path, doc), = run_metadata.documents.items()
    deposition_exists = storage.staging().exists(deposition_metadata_path(doc["deposition_id"]))
    dir_name = path.rsplit("/", 2)[-2]
    return check_result(validate_run(doc, path=path, dir_name=dir_name, deposition_exists=deposition_exists))


@dg.asset_check(asset=voxel_spacings, partitions_def=acquisition_runs, blocking=True)
def voxel_spacings_valid(voxel_spacings: dict) -> dg.AssetCheckResult:
    """Voxel spacing folder names follow the portal's rules."""
    from cryoet_assets.families.run.validation import validate_voxel_spacings

    items = voxel_spacings["voxel_spacings"]
    return check_result(
        validate_voxel_spacings([item["name"] for item in items], where=[item["path"] for item in items])
    )


@dg.asset(partitions_def=acquisition_runs, group_name=GROUP, io_manager_key="portal_db", kinds={"sql"})
def run_db_rows(storage: PortalStorage, database: PortalDatabase, run_metadata: PortalDocuments,
                voxel_spacings: dict):
    """The run row in the staging database, once its metadata and voxel spacing names passed their checks.

    The dataset's row must exist first (the step retries until it does), yet it is no lineage input: the
    roll-up loads each dataset again after its runs, and a dependency on every dataset partition would then
    show every run as unsynced.
    """
    from cryoet_assets.families.run.rows import run_rowset

    dataset_id, run_name = voxel_spacings["dataset_id"], voxel_spacings["run_name"]
    require_parent(database, "dataset", {"id": int(dataset_id)})
    return run_rowset(
        dataset_id=int(dataset_id),
        run_name=run_name,
        s3_prefix=storage.s3_root(),
        https_prefix=storage.https_root(),
    )
