"""The gate for a run's tomograms: each standardized tomogram's suite, plus the sources that failed to convert."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from cryoet_assets.lib.storage import Bucket
from cryoet_assets.lib.validation.outcome import Failure, Statistics, ValidationOutcome

SUITE = "tomograms"


def validate_run_tomograms(
    bucket: Bucket,
    documents: Mapping[str, Any],
    summary: Mapping[str, Any],
    *,
    deposition_exists: Mapping[Any, bool],
) -> ValidationOutcome:
    """Validate every published tomogram of a run (`documents` by metadata path, `summary` from its manifest)."""
    from cryoet_assets.lib.validation.volumes import (
        mrc_facts,
        tomogram_key_photo_paths,
        validate_tomogram,
        zarr_facts,
    )

    outcomes = []
    for path, doc in sorted(documents.items()):
        facts = summary["tomograms"][path]
        folder = posixpath.dirname(path)
        keys = tomogram_key_photo_paths(doc).values()
        photos = {key: bucket.read_bytes(key) if bucket.exists(key) else None for key in keys}
        folders, files = bucket.listdir(folder)
        outcomes.append(
            validate_tomogram(
                metadata=doc,
                metadata_path=path,
                mrc=mrc_facts(bucket, facts["mrc_key"]),
                zarr=zarr_facts(bucket, facts["zarr_key"]),
                mrc_key=facts["mrc_key"],
                zarr_key=facts["zarr_key"],
                voxel_spacing_dir_value=_spacing_of(path),
                photos=photos,
                deposition_exists=bool(deposition_exists.get(doc.get("deposition_id"))),
                tomogram_files=sorted({*files, *folders} - {"tomogram_metadata.json"}),
            )
        )
    failures = [
        Failure(
            expectation="tomogram_standardized",
            column=None,
            where=[item["source"]],
            reason=f"could not be standardized: {item['error']}",
        )
        for item in summary.get("failures") or []
    ]
    return combine(SUITE, outcomes, extra=failures)


def combine(suite: str, outcomes: list[ValidationOutcome], *, extra: list[Failure] = ()) -> ValidationOutcome:
    """One outcome for several suites' outcomes plus failures found outside GX (each counted once)."""
    failures = [failure for outcome in outcomes for failure in outcome.failures] + list(extra)
    evaluated = sum(o.statistics.evaluated for o in outcomes) + len(extra)
    unsuccessful = sum(o.statistics.unsuccessful for o in outcomes) + len(extra)
    severities = {failure.severity for failure in failures}
    severity = "error" if "error" in severities else ("warn" if severities else None)
    return ValidationOutcome(
        suite=suite,
        passed=not failures,
        severity=severity,
        statistics=Statistics(evaluated=evaluated, successful=evaluated - unsuccessful, unsuccessful=unsuccessful),
        failures=failures,
    )


def _spacing_of(metadata_path: str) -> float:
    """The voxel spacing named by the `VoxelSpacing{vs}` folder a metadata path sits in."""
    for part in metadata_path.split("/"):
        if part.startswith("VoxelSpacing"):
            return float(part[len("VoxelSpacing") :])
    raise ValueError(f"{metadata_path} is not inside a VoxelSpacing folder")
