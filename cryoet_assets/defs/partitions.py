"""The three dynamic partition sets; keys are built and parsed only by `cryoet_assets.lib.keys`."""

import dagster as dg

datasets = dg.DynamicPartitionsDefinition(name="datasets")
depositions = dg.DynamicPartitionsDefinition(name="depositions")
acquisition_runs = dg.DynamicPartitionsDefinition(name="acquisition_runs")
