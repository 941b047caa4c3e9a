"""The three dynamic partition sets; keys are built and parsed only by `cryoet_assets.lib.keys`."""

import dagster as dg

datasets = dg.DynamicPartitionsDefinition(name="datasets")
depositions = dg.DynamicPartitionsDefinition(name="depositions")
acquisition_runs = dg.DynamicPartitionsDefinition(name="acquisition_runs")

# The partitions definition of each partition level (`lib.family.Level`), and the level of each definition's name.
BY_LEVEL: dict[str, dg.DynamicPartitionsDefinition] = {
    "deposition": depositions, "dataset": datasets, "acquisition_run": acquisition_runs,
}
LEVEL_OF = {definition.name: level for level, definition in BY_LEVEL.items()}
