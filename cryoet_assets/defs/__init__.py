"""Dagster objects of cryoet-assets: thin glue over `cryoet_assets.lib`."""
