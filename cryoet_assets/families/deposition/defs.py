"""Deposition-level assets: key photos, metadata, database rows, and their validation gate."""


import dagster as dg

from cryoet_assets.defs.checks import check_result, reusing_passed_suites, skipped_result
from cryoet_assets.defs.ingestion import ingestion_plan
from cryoet_assets.defs.partitions import depositions
from cryoet_assets.defs.resources import PortalStorage
from cryoet_assets.families.deposition import FAMILY
from cryoet_assets.families.deposition.documents import deposition_document
from cryoet_assets.families.deposition.manifest import DepositionManifest
from cryoet_assets.lib.documents import PortalDocuments
from cryoet_assets.lib.ingestion import deposition_plans
from cryoet_assets.lib.paths import deposition_dir, deposition_metadata_path
from cryoet_assets.lib.plan import DepositionPlan

GROUP = FAMILY.group
FROM_PLANS = [dg.AssetDep(ingestion_plan, partition_mapping=dg.AllPartitionMapping())]


def _deposition(storage: PortalStorage, deposition_id: int) -> tuple[DepositionPlan, str]:
    plans = deposition_plans(storage.staging(), deposition_id)
    if not plans:
        raise dg.Failure(
            f"no materialized ingestion_plan names deposition {deposition_id}; materialize the plan of a "
            "dataset of this deposition first"
        )
    plan = plans[0]
    return next(dep for dep in plan.depositions if dep.id == deposition_id), plan.config.path


@dg.asset(partitions_def=depositions, group_name=GROUP, io_manager_key="portal_bucket", deps=FROM_PLANS,
          kinds={"png"})
def deposition_key_photos(context: dg.AssetExecutionContext, storage: PortalStorage) -> dg.Output[dict]:
    """The deposition's snapshot and thumbnail, copied to `depositions_metadata/{id}/Images/`."""
    deposition, config_path = _deposition(storage, int(context.partition_key))
    photos = storage.publish_key_photos(deposition.key_photos, parent_dir=deposition_dir(deposition.id))
    return dg.Output(
        photos,
        metadata={
            "config_file": dg.MetadataValue.path(config_path),
            "sources": dg.MetadataValue.json(deposition.key_photos),
            "published": dg.MetadataValue.json(photos),
            "key_photo": key_photo_preview(storage, photos),
        },
    )


def key_photo_preview(storage: PortalStorage, photos: dict[str, str | None]) -> dg.MetadataValue:
    """The published snapshot (else the thumbnail) as a small inline PNG, for the UI."""
    from cryoet_assets.lib.thumbnail import stored_image_markdown

    for name in ("snapshot", "thumbnail"):
        if path := photos.get(name):
            return dg.MetadataValue.md(stored_image_markdown(storage.staging(), path, alt=f"key photo ({name})"))
    return dg.MetadataValue.md("no key photo was published")


@dg.asset(partitions_def=depositions, group_name=GROUP, io_manager_key="portal_bucket", deps=FROM_PLANS,
          kinds={"json"})
def deposition_metadata(
    context: dg.AssetExecutionContext, storage: PortalStorage, deposition_key_photos: dict
) -> dg.Output[PortalDocuments]:
    """`depositions_metadata/{id}/deposition_metadata.json`, as the portal lays it out."""
    deposition, config_path = _deposition(storage, int(context.partition_key))
    doc = deposition_document(deposition.metadata, deposition_id=deposition.id, key_photos=deposition_key_photos)
    documents = {deposition_metadata_path(deposition.id): doc} if doc else {}
    summary = DepositionManifest(config_file=config_path, deposition_id=deposition.id)
    return dg.Output(
        PortalDocuments(documents=documents, summary=summary),
        metadata={
            "config_file": dg.MetadataValue.path(config_path),
            "authors": len(deposition.metadata.get("authors") or []),
            "published": bool(documents),
        },
    )


@dg.asset_check(asset=deposition_metadata, partitions_def=depositions, blocking=True)
def deposition_metadata_valid(
    context: dg.AssetCheckExecutionContext, storage: PortalStorage, deposition_metadata: PortalDocuments
) -> dg.AssetCheckResult:
    """Deposition metadata and key photos pass the portal's deposition checks."""
    from cryoet_assets.families.deposition.validation import validate_deposition

    if not deposition_metadata.documents:
        return skipped_result("the config has no deposition metadata: nothing is published")
    (path, doc), = deposition_metadata.documents.items()
    with reusing_passed_suites(context) as suites:
        outcome = validate_deposition(doc, path=path, photos=read_photos(storage, doc))
    return check_result(outcome, suites=suites)


@dg.asset(partitions_def=depositions, group_name=GROUP, io_manager_key="portal_db", kinds={"sql"})
def deposition_db_rows(storage: PortalStorage, deposition_metadata: PortalDocuments):
    """deposition, deposition_author and deposition_type rows in the staging database."""
    from cryoet_assets.families.deposition.rows import deposition_rowset
    from cryoet_assets.lib.db.sync import RowSet

    if not deposition_metadata.documents:
        return RowSet()
    (_, doc), = deposition_metadata.documents.items()
    return deposition_rowset(doc, s3_prefix=storage.s3_root(), https_prefix=storage.https_root())


def read_photos(storage: PortalStorage, doc: dict) -> dict[str, bytes | None]:
    """The published key photos a metadata document points at, by path (None where a set path is missing)."""
    from cryoet_assets.lib.validation.photos import key_photo_paths

    photos: dict[str, bytes | None] = {}
    for path in key_photo_paths(doc).values():
        try:
            photos[path] = storage.staging().read_bytes(path)
        except FileNotFoundError:
            photos[path] = None
    return photos
