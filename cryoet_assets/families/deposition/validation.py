"""The portal's checks of `deposition_metadata.json` and its key photos (facts §4.2)."""

from __future__ import annotations

from typing import Any

from cryoet_assets.lib.validation.metadata import validate_authored_document
from cryoet_assets.lib.validation.outcome import ValidationOutcome


def validate_deposition(doc: Any, *, path: str, photos: dict[str, bytes | None]) -> ValidationOutcome:
    """`deposition_metadata.json`: description, title, identifier set; basic check; key photos valid if set.

    `photos` maps each key photo path the document sets (see `photos.key_photo_paths`) to its bytes, or
    None when the file does not exist.
    """
    return validate_authored_document(
        "deposition_metadata", "deposition", doc, path=path, photos=photos, extra={}, extra_expectations=[]
    )
