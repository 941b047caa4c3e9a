"""Dagster objects of cryoet-assets: thin glue over `cryoet_assets.lib`."""

import warnings

import dagster as dg

# Every check here takes its asset's partitions_def, a Dagster 1.13 preview: without this filter each process
# that loads the definitions (code server, run workers, this CLI) warns once per check.
for _category in (dg.PreviewWarning, dg.BetaWarning):
    warnings.filterwarnings(
        "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=_category
    )
