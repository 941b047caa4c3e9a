"""The validation gate: GX 1.x expectation suites over portal metadata, returning plain outcomes."""

from __future__ import annotations

from cryoet_assets.lib.validation.entities import (
    validate_dataset,
    validate_deposition,
    validate_run,
    validate_voxel_spacings,
)
from cryoet_assets.lib.validation.outcome import Failure, Statistics, ValidationOutcome
from cryoet_assets.lib.validation.photos import key_photo_paths

__all__ = [
    "Failure",
    "Statistics",
    "ValidationOutcome",
    "key_photo_paths",
    "validate_dataset",
    "validate_deposition",
    "validate_run",
    "validate_voxel_spacings",
]
