"""Acquisition-run-level assets: run metadata, voxel spacings, database rows, and their validation gate."""


import dagster as dg

from cryoet_assets.defs.checks import check_result, reusing_passed_suites
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
    run_metadata_path,
    voxel_spacing_dir,
    voxel_spacing_name,
)

GROUP = FAMILY.group
FROM_PLANS = [dg.AssetDep(ingestion_plan, partition_mapping=dg.AllPartitionMapping())]


RUN_METADATA = dg.AssetKey("run_metadata")
VOXEL_SPACINGS = dg.AssetKey("voxel_spacings")


@dg.multi_asset(
    outs={
        "run_metadata": dg.AssetOut(
            io_manager_key="portal_bucket", kinds={"json"},
            description="`{dataset}/{run}/run_metadata.json`, as the portal lays it out.",
        ),
        "voxel_spacings": dg.AssetOut(
            io_manager_key="portal_bucket", kinds={"json"},
            description=(
                "The run's planned voxel spacings, for their names' check; nothing is written at their paths. "
                "A `Reconstructions/VoxelSpacing{vs}` folder appears only when a tomogram is published in it, "
                "and its database row follows the folder (see `tomogram_db_rows`)."
            ),
        ),
    },
    partitions_def=acquisition_runs,
    group_name=GROUP,
    deps=FROM_PLANS,
)
def run_documents(context: dg.AssetExecutionContext, storage: PortalStorage):
    """The run's metadata document and its planned voxel spacings, from the dataset's plan in one step."""
    dataset_id, run_name = parse_acquisition_run_key(context.partition_key)
    plan = load_plan(storage, dataset_id)
    run = plan.run(run_name)
    path = run_metadata_path(dataset_id, run_name)
    yield dg.Output(
        PortalDocuments(
            documents={path: run_document(run_name=run_name, deposition_id=plan.deposition_id)},
            summary=RunManifest(dataset_id=dataset_id, run_name=run_name, deposition_id=plan.deposition_id),
        ),
        output_name="run_metadata",
        metadata={
            "config_file": dg.MetadataValue.path(plan.config.path),
            "source": dg.MetadataValue.path(storage.deposit().uri(run.source_path or "")),
            "source_files": run.source_file_count,
            "content_version": run.content_version,
        },
    )
    spacings = [
        {"value": value, "name": voxel_spacing_name(value), "path": voxel_spacing_dir(dataset_id, run_name, value)}
        for value in run.voxel_spacings
    ]
    yield dg.Output(
        {"dataset_id": dataset_id, "run_name": run_name, "voxel_spacings": spacings},
        output_name="voxel_spacings",
        metadata={"voxel_spacings": dg.MetadataValue.json([item["name"] for item in spacings])},
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("run_metadata_valid", asset=RUN_METADATA, partitions_def=acquisition_runs,
                          blocking=True, description="Run metadata names its folder and its deposition exists."),
        dg.AssetCheckSpec("voxel_spacings_valid", asset=VOXEL_SPACINGS, partitions_def=acquisition_runs,
                          blocking=True, description="Voxel spacing folder names follow the portal's rules."),
    ],
    ins={"run_metadata": dg.AssetIn(RUN_METADATA), "voxel_spacings": dg.AssetIn(VOXEL_SPACINGS)},
)
def run_checks(
    context: dg.AssetCheckExecutionContext,
    storage: PortalStorage,
    database: PortalDatabase,
    run_metadata: PortalDocuments,
    voxel_spacings: dict,
):
    """Both checks of the run family in one step: the run metadata's and the voxel spacing names'."""
    from cryoet_assets.defs.parents import published_depositions
    from cryoet_assets.families.run.validation import validate_run, validate_voxel_spacings

    (path, doc), = run_metadata.documents.items()
    deposition_id = doc["deposition_id"]
    published = published_depositions(storage, database, [deposition_id], attempt=context.retry_number)
    deposition_exists = published.get(deposition_id, False)
    dir_name = path.rsplit("/", 2)[-2]
    items = voxel_spacings["voxel_spacings"]
    with reusing_passed_suites(context) as suites:
        run = validate_run(doc, path=path, dir_name=dir_name, deposition_exists=deposition_exists)
        names = validate_voxel_spacings([item["name"] for item in items], where=[item["path"] for item in items])
    yield check_result(run, asset_key=RUN_METADATA, check_name="run_metadata_valid", suites=suites)
    yield check_result(names, asset_key=VOXEL_SPACINGS, check_name="voxel_spacings_valid", suites=suites)


@dg.asset(partitions_def=acquisition_runs, group_name=GROUP, io_manager_key="portal_db", kinds={"sql"},
          deps=[RUN_METADATA, VOXEL_SPACINGS])
def run_db_rows(context: dg.AssetExecutionContext, storage: PortalStorage, database: PortalDatabase):
    """The run row in the staging database, once its metadata and voxel spacing names passed their checks.

    The row needs only the partition's dataset and run name, so its upstream assets are dependencies, not
    loaded inputs; their blocking checks still gate it. The dataset's row must exist first (the step retries
    until it does), yet it is no lineage input: the roll-up loads each dataset again after its runs, and a
    dependency on every dataset partition would then show every run as unsynced.
    """
    from cryoet_assets.families.run.rows import run_rowset

    dataset_id, run_name = parse_acquisition_run_key(context.partition_key)
    require_parent(database, "dataset", {"id": int(dataset_id)}, attempt=context.retry_number)
    return run_rowset(
        dataset_id=int(dataset_id),
        run_name=run_name,
        s3_prefix=storage.s3_root(),
        https_prefix=storage.https_root(),
    )
