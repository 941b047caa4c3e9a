"""The validation gate's ground floor: GX 1.x helpers, outcomes, shared metadata and header checks.

Each family's suite is in its own `validation.py`.
"""

from __future__ import annotations

from cryoet_assets.lib.validation.outcome import Failure, Statistics, ValidationOutcome
from cryoet_assets.lib.validation.photos import key_photo_paths

__all__ = [
    "Failure",
    "Statistics",
    "ValidationOutcome",
    "key_photo_paths",
]
