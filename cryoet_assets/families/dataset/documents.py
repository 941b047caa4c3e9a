"""`dataset_metadata.json` (facts §2.3), without timestamps."""

from __future__ import annotations

import copy
from typing import Any

# Each default satisfies the portal's metadata schema: a term object needs a string name and an id that is
# null or matches its ontology's pattern, and the optional terms may be null.
DATASET_DEFAULTS: dict[str, Any] = {
    "assay": {"name": "cryo-electron tomography", "id": "EFO:0002733"},
    "cell_component": None,
    "cell_strain": None,
    "cell_type": None,
    "development_stage": {"name": "unknown", "id": "unknown"},
    "disease": {"name": None, "id": None},
    "tissue": {"name": "not_reported", "id": None},
}


def dataset_document(
    metadata: dict[str, Any], *, deposition_id: int, key_photos: dict[str, str | None]
) -> dict[str, Any] | None:
    """`dataset_metadata.json`: the config's metadata with ontology defaults, key photos and deposition id."""
    if not metadata:
        return None
    doc = copy.deepcopy(metadata)
    for name, default in DATASET_DEFAULTS.items():
        if doc.get(name) is None:
            doc[name] = copy.deepcopy(default)
    if isinstance(doc.get("organism"), dict):
        doc["organism"].setdefault("taxonomy_id", None)
    doc["key_photos"] = dict(key_photos)
    doc.setdefault("deposition_id", deposition_id)
    return doc
