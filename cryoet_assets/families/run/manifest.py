"""The manifest the run_metadata asset keeps beside its document."""

from __future__ import annotations

from pydantic import BaseModel


class RunManifest(BaseModel):
    """The run's dataset id and name, and the dataset's deposition id."""

    dataset_id: str
    run_name: str
    deposition_id: int
