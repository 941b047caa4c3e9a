"""`run_metadata.json` (facts §2.3)."""

from __future__ import annotations

from typing import Any


def run_document(*, run_name: str, deposition_id: int) -> dict[str, Any]:
    """`run_metadata.json`."""
    return {"run_name": run_name, "deposition_id": deposition_id}
