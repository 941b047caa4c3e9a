"""The portal's checks of `dataset_metadata.json`, its key photos and its deposition (facts §4.2)."""

from __future__ import annotations

from typing import Any

from cryoet_assets.lib.validation.metadata import expect_deposition_exists, validate_authored_document
from cryoet_assets.lib.validation.outcome import ValidationOutcome


def validate_dataset(
    doc: Any, *, path: str, photos: dict[str, bytes | None], deposition_exists: bool
) -> ValidationOutcome:
    """`dataset_metadata.json`: as for a deposition, plus the deposition named by `deposition_id` exists."""
    return validate_authored_document(
        "dataset_metadata",
        "dataset",
        doc,
        path=path,
        photos=photos,
        extra={"deposition_exists": bool(deposition_exists)},
        extra_expectations=[expect_deposition_exists()],
    )
