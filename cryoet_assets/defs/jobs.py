"""One job per partition set, each materializing an entity family with its checks."""

import dagster as dg

from cryoet_assets.defs import datasets as dataset_assets
from cryoet_assets.defs import depositions as deposition_assets
from cryoet_assets.defs import runs as run_assets
from cryoet_assets.defs import tomograms as tomogram_assets
from cryoet_assets.defs.ingestion import ingestion_config, ingestion_plan
from cryoet_assets.defs.partitions import acquisition_runs, datasets, depositions

dataset_plan_job = dg.define_asset_job(
    "dataset_plan_job",
    selection=dg.AssetSelection.assets(ingestion_config, ingestion_plan),
    partitions_def=datasets,
    description="Load a dataset's ingestion config and resolve its plan.",
)
deposition_job = dg.define_asset_job(
    "deposition_job",
    selection=dg.AssetSelection.groups(deposition_assets.GROUP),
    partitions_def=depositions,
    description="Publish a deposition's key photos and metadata, validate them, load its rows.",
)
dataset_job = dg.define_asset_job(
    "dataset_job",
    selection=dg.AssetSelection.groups(dataset_assets.GROUP),
    partitions_def=datasets,
    description="Publish a dataset's key photos and metadata, validate them, load its rows.",
)
acquisition_run_job = dg.define_asset_job(
    "acquisition_run_job",
    selection=dg.AssetSelection.groups(run_assets.GROUP, tomogram_assets.GROUP),
    partitions_def=acquisition_runs,
    description=(
        "Publish an acquisition run's metadata, voxel spacings and standardized tomograms, validate them, "
        "load their rows."
    ),
)
