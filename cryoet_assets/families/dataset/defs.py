"""Dataset-level assets: key photos, metadata, database rows, and their validation gate."""


import dagster as dg

from cryoet_assets.defs.checks import check_result, reusing_passed_suites, skipped_result
from cryoet_assets.defs.parents import require_parent
from cryoet_assets.defs.partitions import datasets
from cryoet_assets.defs.resources import PortalDatabase, PortalStorage
from cryoet_assets.families.dataset import FAMILY
from cryoet_assets.families.dataset.documents import dataset_document
from cryoet_assets.families.dataset.manifest import DatasetManifest
from cryoet_assets.families.deposition.defs import deposition_db_rows, key_photo_preview, read_photos
from cryoet_assets.lib.documents import PortalDocuments
from cryoet_assets.lib.paths import dataset_dir, dataset_metadata_path
from cryoet_assets.lib.plan import DatasetPlan

GROUP = FAMILY.group


@dg.asset(partitions_def=datasets, group_name=GROUP, io_manager_key="portal_bucket", kinds={"png"})
def dataset_key_photos(storage: PortalStorage, ingestion_plan: dict) -> dg.Output[dict]:
    """The dataset's snapshot and thumbnail, copied to `{dataset}/Images/` (else from its tomograms' key images)."""
    from cryoet_assets.lib.photos import fill_from_tomograms

    plan = DatasetPlan.model_validate(ingestion_plan)
    configured = storage.publish_key_photos(plan.key_photos, parent_dir=dataset_dir(plan.dataset_id))
    photos = fill_from_tomograms(configured, output=storage.staging(), dataset_id=plan.dataset_id)
    return dg.Output(
        photos,
        metadata={
            "sources": dg.MetadataValue.json(plan.key_photos),
            "published": dg.MetadataValue.json(photos),
            "from_tomograms": dg.MetadataValue.json(sorted(name for name in photos if photos[name] != configured[name])),
            "key_photo": key_photo_preview(storage, photos),
        },
    )


@dg.asset(partitions_def=datasets, group_name=GROUP, io_manager_key="portal_bucket", kinds={"json"})
def dataset_metadata(ingestion_plan: dict, dataset_key_photos: dict) -> dg.Output[PortalDocuments]:
    """`{dataset}/dataset_metadata.json`, as the portal lays it out."""
    plan = DatasetPlan.model_validate(ingestion_plan)
    doc = dataset_document(plan.metadata, deposition_id=plan.deposition_id, key_photos=dataset_key_photos)
    documents = {dataset_metadata_path(plan.dataset_id): doc} if doc else {}
    summary = DatasetManifest(
        config_file=plan.config.path, dataset_id=plan.dataset_id, deposition_id=plan.deposition_id
    )
    return dg.Output(
        PortalDocuments(documents=documents, summary=summary),
        metadata={
            "config_file": dg.MetadataValue.path(plan.config.path),
            "title": (doc or {}).get("dataset_title", ""),
            "authors": len(plan.metadata.get("authors") or []),
            "published": bool(documents),
        },
    )


@dg.asset_check(asset=dataset_metadata, partitions_def=datasets, blocking=True)
def dataset_metadata_valid(
    context: dg.AssetCheckExecutionContext,
    storage: PortalStorage,
    database: PortalDatabase,
    dataset_metadata: PortalDocuments,
) -> dg.AssetCheckResult:
    """Dataset metadata, its key photos and its deposition pass the portal's dataset checks."""
    from cryoet_assets.defs.parents import published_depositions
    from cryoet_assets.families.dataset.validation import validate_dataset

    if not dataset_metadata.documents:
        return skipped_result("the config has no dataset metadata: this config adds to an existing dataset")
    (path, doc), = dataset_metadata.documents.items()
    deposition_id = doc.get("deposition_id")
    published = published_depositions(storage, database, [deposition_id], attempt=context.retry_number)
    deposition_exists = published.get(deposition_id, False)
    with reusing_passed_suites(context) as suites:
        outcome = validate_dataset(
            doc, path=path, photos=read_photos(storage, doc), deposition_exists=deposition_exists
        )
    return check_result(outcome, suites=suites)


@dg.asset(partitions_def=datasets, group_name=GROUP, io_manager_key="portal_db", kinds={"sql"},
          deps=[dg.AssetDep(deposition_db_rows, partition_mapping=dg.AllPartitionMapping())])
def dataset_db_rows(
    context: dg.AssetExecutionContext,
    storage: PortalStorage,
    database: PortalDatabase,
    ingestion_plan: dict,
    dataset_metadata: PortalDocuments,
):
    """dataset, dataset_author and dataset_funding rows; runs that left the plan are deleted."""
    from cryoet_assets.families.dataset.rows import dataset_rowset, dataset_runs_prune
    from cryoet_assets.lib.db.sync import RowSet

    plan = DatasetPlan.model_validate(ingestion_plan)
    if not dataset_metadata.documents:
        return RowSet()
    (path, doc), = dataset_metadata.documents.items()
    require_parent(database, "deposition", {"id": int(doc["deposition_id"])}, attempt=context.retry_number)
    folder = dataset_dir(plan.dataset_id)
    size = sum(info.size for info in storage.staging().list(f"{folder}/"))
    rowset = dataset_rowset(
        doc, s3_prefix=storage.s3_root(), https_prefix=storage.https_root(), file_size=size
    )
    return rowset + dataset_runs_prune(int(plan.dataset_id), [run.name for run in plan.runs])

