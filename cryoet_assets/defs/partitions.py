"""The three dynamic partition sets; keys are built and parsed only by `cryoet_assets.lib.keys`."""

import dagster as dg

datasets = dg.DynamicPartitionsDefinition(name="datasets")
depositions = dg.DynamicPartitionsDefinition(name="depositions")
acquisition_runs = dg.DynamicPartitionsDefinition(name="acquisition_runs")

# The partition level (`lib.family.Level`) of each partitions definition's name.
LEVELS = {depositions.name: "deposition", datasets.name: "dataset", acquisition_runs.name: "acquisition_run"}
