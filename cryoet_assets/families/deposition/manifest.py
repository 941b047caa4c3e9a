"""The manifest the deposition_metadata asset keeps beside its document."""

from __future__ import annotations

from pydantic import BaseModel


class DepositionManifest(BaseModel):
    """Which config file a deposition's metadata came from, and its id."""

    config_file: str
    deposition_id: int
