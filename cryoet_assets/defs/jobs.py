"""One job per partition level, each materializing the asset groups of the families at that level."""

import dagster as dg

from cryoet_assets.defs.ingestion import ingestion_config, ingestion_plan
from cryoet_assets.defs.partitions import acquisition_runs, datasets, depositions
from cryoet_assets.families import families_at


def _family_job(
    name: str, level: str, partitions_def: dg.PartitionsDefinition, description: str
):
    groups = [item.group for item in families_at(level)]
    return dg.define_asset_job(
        name, selection=dg.AssetSelection.groups(*groups), partitions_def=partitions_def, description=description
    )


dataset_plan_job = dg.define_asset_job(
    "dataset_plan_job",
    selection=dg.AssetSelection.assets(ingestion_config, ingestion_plan),
    partitions_def=datasets,
    description="Load a dataset's ingestion config and resolve its plan.",
)
deposition_job = _family_job(
    "deposition_job", "deposition", depositions,
    "Publish a deposition's key photos and metadata, validate them, load its rows.",
)
dataset_job = _family_job(
    "dataset_job", "dataset", datasets,
    "Publish a dataset's key photos and metadata, validate them, load its rows.",
)
acquisition_run_job = _family_job(
    "acquisition_run_job", "acquisition_run", acquisition_runs,
    "Publish an acquisition run's metadata, voxel spacings and standardized tomograms, validate them, "
    "load their rows.",
)
