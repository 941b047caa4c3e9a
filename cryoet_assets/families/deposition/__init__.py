"""A deposition: its metadata document, key photos and rows (facts §2.3)."""

from cryoet_assets.lib.family import Family

FAMILY = Family(name="deposition", level="deposition", group="depositions", parents=())
