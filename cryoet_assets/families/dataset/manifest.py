"""The manifest the dataset_metadata asset keeps beside its document."""

from __future__ import annotations

from pydantic import BaseModel


class DatasetManifest(BaseModel):
    """Which config file a dataset's metadata came from, its id and its deposition's id."""

    config_file: str
    dataset_id: str
    deposition_id: int
