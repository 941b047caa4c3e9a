"""A dataset of a deposition: its metadata document, key photos and rows, and the prune of runs that left it."""

from cryoet_assets.lib.family import Family

FAMILY = Family(name="dataset", level="dataset", group="datasets", parents=("deposition",))
