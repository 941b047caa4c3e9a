"""`deposition_metadata.json` (facts §2.3), without timestamps."""

from __future__ import annotations

import copy
from typing import Any


def deposition_document(
    metadata: dict[str, Any], *, deposition_id: int, key_photos: dict[str, str | None]
) -> dict[str, Any] | None:
    """`deposition_metadata.json`: the config's metadata plus key photos and deposition id; None if no metadata."""
    if not metadata:
        return None
    doc = copy.deepcopy(metadata)
    doc["key_photos"] = dict(key_photos)
    doc.setdefault("deposition_id", deposition_id)
    return doc
