"""The manifest the tomograms asset keeps beside its documents: what its checks and row builders read back."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TomogramManifest(BaseModel):
    """A run's standardized tomograms: written by `standardize_run`, validated wherever it is read back.

    `tomograms` holds each tomogram's facts by metadata path (ids, keys, sizes, stats, versions); `file_sizes`
    the bytes of each published MRC and OME-Zarr by key; `failures` each source that could not be standardized
    (`source`, `error`). Voxel spacings are in Å.
    """

    dataset_id: str
    run_name: str
    dataset_deposition_id: int
    voxel_spacings: list[float] = Field(default_factory=list)
    tomograms: dict[str, dict[str, Any]] = Field(default_factory=dict)
    file_sizes: dict[str, int] = Field(default_factory=dict)
    failures: list[dict[str, str]] = Field(default_factory=list)
