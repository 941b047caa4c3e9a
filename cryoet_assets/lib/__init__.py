"""Plain-Python logic of cryoet-assets; nothing here imports dagster."""
