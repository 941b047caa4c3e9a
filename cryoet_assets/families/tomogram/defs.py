"""Tomogram assets of an acquisition run: standardized volumes with key images, their gate, their rows."""


import dagster as dg
from pydantic import ValidationError

from cryoet_assets.defs.checks import check_result, reusing_passed_suites
from cryoet_assets.defs.ingestion import load_plan
from cryoet_assets.defs.partitions import acquisition_runs
from cryoet_assets.defs.progress import ThrottledProgress
from cryoet_assets.defs.resources import PortalDatabase, PortalStorage
from cryoet_assets.families.run.defs import FROM_PLANS, run_db_rows
from cryoet_assets.families.tomogram import FAMILY
from cryoet_assets.families.tomogram.manifest import TomogramManifest
from cryoet_assets.lib.documents import PortalDocuments, read_manifest
from cryoet_assets.lib.keys import parse_acquisition_run_key

GROUP = FAMILY.group


@dg.asset(partitions_def=acquisition_runs, group_name=GROUP, io_manager_key="portal_bucket", deps=FROM_PLANS,
          kinds={"mrc", "zarr", "png", "json"}, pool="cpu_heavy")
def tomograms(context: dg.AssetExecutionContext, storage: PortalStorage) -> dg.Output[PortalDocuments]:
    """The run's tomograms as `{run}.mrc`, a 3-level `{run}.zarr`, 4 key images and `tomogram_metadata.json`."""
    from cryoet_assets.families.tomogram.standardize import standardize_run

    dataset_id, run_name = parse_acquisition_run_key(context.partition_key)
    plan = load_plan(storage, dataset_id)
    staging = storage.staging()
    try:
        stored = read_manifest(staging, tomograms.key.path[-1], context.partition_key)["summary"]
        previous = TomogramManifest.model_validate(stored)
    except (FileNotFoundError, ValidationError):
        previous = None
    outcome = standardize_run(
        plan, run_name, deposit=storage.deposit(), output=staging, previous=previous, log=context.log.info,
        warn=context.log.warning,
        progress=ThrottledProgress(context.log.info),
    )
    for failure in outcome.failures:
        context.log.error(failure["error"])
    return dg.Output(
        PortalDocuments(documents=outcome.documents, summary=outcome.summary()),
        metadata=_materialization_metadata(outcome, staging),
    )


def _materialization_metadata(outcome, staging) -> dict:
    """What a curator wants to see per tomogram: id, spacing, size, outputs, whether it was converted."""
    lines = [
        "| id | voxel spacing (Å) | header (Å) | size z×y×x | MRC (MB) | OME-Zarr (MB) | seconds | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for facts in outcome.facts.values():
        size = facts["size"]
        status = "converted" if facts.get("converted") else "unchanged"
        lines.append(
            f"| {facts['tomogram_id']} | {facts['voxel_spacing']:.3f} | {facts['header_voxel_size']:.3f} "
            f"| {size['z']}×{size['y']}×{size['x']} | {facts['mrc_bytes'] / 1e6:.1f} "
            f"| {facts['zarr_bytes'] / 1e6:.1f} | {facts['seconds']} | {status} |"
        )
    for failure in outcome.failures:
        lines.append(f"| – | | | | | | | failed: {failure['error']} |")
    metadata = {
        "tomograms": dg.MetadataValue.md("\n".join(lines)),
        "converted": sum(bool(f.get("converted")) for f in outcome.facts.values()),
        "unchanged": sum(not f.get("converted") for f in outcome.facts.values()),
        "failed": len(outcome.failures),
    }
    if outcome.failures:
        metadata["failures"] = dg.MetadataValue.json(outcome.failures)
    warnings = [warning for facts in outcome.facts.values() for warning in facts.get("warnings", [])]
    if warnings:
        metadata["source_warnings"] = dg.MetadataValue.json(warnings)
    first = next(iter(outcome.facts.values()), None)
    if first:
        metadata["key_image"] = dg.MetadataValue.md(_key_image_previews(outcome.facts.values(), staging))
        metadata["key_photo"] = dg.MetadataValue.path(staging.uri(first["key_images"]["snapshot"]))
        metadata["zarr"] = dg.MetadataValue.path(staging.uri(first["zarr_key"]))
    return metadata


def _key_image_previews(all_facts, staging) -> str:
    """Each tomogram's snapshot key image as a small inline PNG, captioned with its id and voxel spacing."""
    from cryoet_assets.lib.thumbnail import stored_image_markdown

    previews = []
    for facts in all_facts:
        caption = f"tomogram {facts['tomogram_id']} ({facts['voxel_spacing']:.3f} Å)"
        image = stored_image_markdown(staging, facts["key_images"]["snapshot"], alt=f"key image of {caption}")
        previews.append(f"**{caption}**\n\n{image}")
    return "\n\n".join(previews)


@dg.asset_check(asset=tomograms, partitions_def=acquisition_runs, blocking=True)
def tomograms_valid(
    context: dg.AssetCheckExecutionContext,
    storage: PortalStorage,
    database: PortalDatabase,
    tomograms: PortalDocuments,
) -> dg.AssetCheckResult:
    """Every tomogram standardized; MRC, OME-Zarr, metadata and key photos pass the portal's checks."""
    from cryoet_assets.defs.parents import published_depositions
    from cryoet_assets.families.tomogram.validation import validate_run_tomograms

    staging = storage.staging()
    deposition_ids = {doc.get("deposition_id") for doc in tomograms.documents.values()}
    deposition_exists = published_depositions(storage, database, deposition_ids, attempt=context.retry_number)
    with reusing_passed_suites(context) as suites:
        outcome = validate_run_tomograms(
            staging,
            tomograms.documents,
            TomogramManifest.model_validate(tomograms.summary),
            deposition_exists=deposition_exists,
        )
    return check_result(outcome, suites=suites)


@dg.asset(partitions_def=acquisition_runs, group_name=GROUP, io_manager_key="portal_db", kinds={"sql"},
          deps=[run_db_rows])
def tomogram_db_rows(
    context: dg.AssetExecutionContext, storage: PortalStorage, database: PortalDatabase, tomograms: PortalDocuments
):
    """tomogram_voxel_spacing, tomogram and tomogram_author rows in the staging database.

    Runs after the tomograms are published, so the voxel spacing rows are the run's `VoxelSpacing*` folders
    as they now are (facts §5.1): a planned spacing without a published tomogram gets no row, and the row of
    a folder that is gone is pruned with its tomograms.
    """
    from cryoet_assets.defs.parents import require_parent
    from cryoet_assets.families.run.rows import published_voxel_spacings, voxel_spacing_rowset
    from cryoet_assets.families.tomogram.rows import tomogram_rowset
    from cryoet_assets.lib.paths import reconstructions_dir

    manifest = TomogramManifest.model_validate(tomograms.summary)
    dataset_id, run_name = manifest.dataset_id, manifest.run_name
    require_parent(database, "run", {"dataset_id": int(dataset_id), "name": run_name},
                   attempt=context.retry_number)
    staging = storage.staging()
    folder = reconstructions_dir(dataset_id, run_name)
    spacings = published_voxel_spacings(staging.listdir(folder)[0], where=staging.uri(folder))
    prefixes = {"s3_prefix": storage.s3_root(), "https_prefix": storage.https_root()}
    return voxel_spacing_rowset(
        dataset_id=int(dataset_id), run_name=run_name, voxel_spacings=spacings, **prefixes
    ) + tomogram_rowset(
        dataset_id=int(dataset_id),
        run_name=run_name,
        documents=tomograms.documents,
        file_sizes=manifest.file_sizes,
        dataset_deposition_id=manifest.dataset_deposition_id,
        voxel_spacings=spacings,
        **prefixes,
    )
