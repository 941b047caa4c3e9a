"""An acquisition run of a dataset with its voxel spacings: run metadata and their rows."""

from cryoet_assets.lib.family import Family

FAMILY = Family(name="run", level="acquisition_run", group="acquisition_runs", parents=("dataset",))
