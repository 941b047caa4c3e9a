"""Tomograms of a run's voxel spacings: standardized MRC and OME-Zarr, key images, metadata, rows."""

from cryoet_assets.lib.family import Family

FAMILY = Family(
    name="tomogram", level="acquisition_run", group="tomograms", parents=("run",), plan="plan",
    rollup_asset="tomograms",
)
