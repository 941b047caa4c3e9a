"""The gate for a run's tomograms (facts §2.4, §4.1, §4.2): each standardized tomogram's suite (its metadata
document, key photos, and the shared MRC/OME-Zarr header checks), plus the sources that failed to convert.

Rows name themselves in `where`: the metadata file (and its authors, scales and key photos), the MRC file
and each of its axes, the zarr folder and each of its levels.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any

from cryoet_assets.families.tomogram.manifest import TomogramManifest
from cryoet_assets.lib.documents import type_name
from cryoet_assets.lib.storage import Bucket
from cryoet_assets.lib.validation.gx import rows_frame, run_suite
from cryoet_assets.lib.validation.metadata import (
    AUTHOR_COLUMNS,
    BASIC_DOCUMENT_COLUMNS,
    author_rows,
    basic_document_columns,
    basic_expectations,
    expect_deposition_exists,
    expect_document_object,
)
from cryoet_assets.lib.validation.outcome import Failure, Statistics, ValidationOutcome
from cryoet_assets.lib.validation.photos import PHOTO_COLUMNS, photo_expectations, photo_rows
from cryoet_assets.lib.validation.volume_headers import (
    MRC_AXIS_COLUMNS,
    MRC_FILE_COLUMNS,
    ZARR_FILE_COLUMNS,
    ZARR_LEVEL_COLUMNS,
    mrc_expectations,
    mrc_rows,
    zarr_expectations,
    zarr_rows,
)

SUITE = "tomograms"


def validate_run_tomograms(
    bucket: Bucket,
    documents: Mapping[str, Any],
    manifest: TomogramManifest,
    *,
    deposition_exists: Mapping[Any, bool],
) -> ValidationOutcome:
    """Validate every published tomogram of a run: `documents` by metadata path, facts from its `manifest`."""
    from cryoet_assets.lib.volume.inspect import mrc_facts, zarr_facts

    outcomes = []
    for path, doc in sorted(documents.items()):
        facts = manifest.tomograms[path]
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
        for item in manifest.failures
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


THUMBNAIL_MIN_HEIGHT = 100
SNAPSHOT_MIN_HEIGHT = 384
KEY_PHOTO_ASPECT_RATIO = 4 / 3
KEY_PHOTO_KINDS = ("snapshot", "thumbnail")

DOCUMENT_COLUMNS = (
    "document_type",
    "key_photo_missing",
    "metadata_size",
    "metadata_scale_0",
    "metadata_voxel_spacing",
    "voxel_spacing_dir",
    "deposition_exists",
    "zarr_files",
    "omezarr_dir_name",
    "mrc_files",
    "mrc_file_name",
)
SCALE_COLUMNS = ("metadata_scale", "metadata_scale_expected")


def tomogram_key_photo_paths(doc: Any) -> dict[str, str]:
    """The key photos a tomogram document sets in `key_photo`, kind -> bucket-relative path."""
    key_photo = doc.get("key_photo") if isinstance(doc, dict) else None
    if not isinstance(key_photo, dict):
        return {}
    return {kind: str(key_photo[kind]) for kind in KEY_PHOTO_KINDS if key_photo.get(kind)}


def validate_tomogram(
    *,
    metadata: dict[str, Any] | Any,
    metadata_path: str,
    mrc: dict[str, Any],
    zarr: dict[str, Any],
    mrc_key: str,
    zarr_key: str,
    voxel_spacing_dir_value: float,
    photos: dict[str, bytes | None],
    deposition_exists: bool,
    tomogram_files: list[str],
) -> ValidationOutcome:
    """One tomogram: `tomogram_metadata.json`, its MRC and zarr (from `mrc_facts`/`zarr_facts`), key photos.

    `voxel_spacing_dir_value` is the spacing its `VoxelSpacing` folder names; `photos` maps each path of
    `tomogram_key_photo_paths(metadata)` to its bytes, or None when missing; `tomogram_files` are the
    names inside the tomogram's folder; `deposition_exists` says whether the deposition of its
    `deposition_id` has its metadata file.
    """
    body = metadata if isinstance(metadata, dict) else {}
    spacing = float(voxel_spacing_dir_value)
    rows = [
        *_document_rows(
            metadata,
            body,
            path=metadata_path,
            spacing=spacing,
            deposition_exists=deposition_exists,
            tomogram_files=tomogram_files,
        ),
        *author_rows(body, path=metadata_path),
        *_photo_rows(body, path=metadata_path, photos=photos),
        *mrc_rows(mrc, key=mrc_key, spacing=spacing, size=body.get("size")),
        *zarr_rows(zarr, key=zarr_key, spacing=spacing, mrc=mrc),
    ]
    columns = [
        "where",
        *DOCUMENT_COLUMNS,
        *BASIC_DOCUMENT_COLUMNS,
        *SCALE_COLUMNS,
        *AUTHOR_COLUMNS,
        *PHOTO_COLUMNS,
        *MRC_FILE_COLUMNS,
        *MRC_AXIS_COLUMNS,
        *ZARR_FILE_COLUMNS,
        *ZARR_LEVEL_COLUMNS,
    ]
    expectations = [
        *_document_expectations(spacing),
        *basic_expectations(),
        *photo_expectations(),
        *mrc_expectations(spacing),
        *zarr_expectations(),
    ]
    return run_suite("tomogram", rows_frame(rows, columns=columns), expectations, where_column="where")


def _document_rows(
    doc: Any,
    body: dict[str, Any],
    *,
    path: str,
    spacing: float,
    deposition_exists: bool,
    tomogram_files: list[str],
) -> list[dict[str, Any]]:
    scales = body.get("scales")
    scales = scales if isinstance(scales, list) else []
    names = sorted(tomogram_files)
    photos = tomogram_key_photo_paths(body)
    row = {
        "where": path,
        "document_type": type_name(doc),
        "key_photo_missing": ", ".join(kind for kind in KEY_PHOTO_KINDS if kind not in photos),
        "metadata_size": _zyx_text(body.get("size")) if "size" in body else "(not set)",
        "metadata_scale_0": _zyx_text(scales[0]) if scales else "(no scales)",
        "metadata_voxel_spacing": body.get("voxel_spacing"),
        "voxel_spacing_dir": spacing,
        "deposition_exists": bool(deposition_exists),
        "zarr_files": ", ".join(name for name in names if name.endswith(".zarr")),
        "omezarr_dir_name": _basename(body.get("omezarr_dir")),
        "mrc_files": ", ".join(name for name in names if name.endswith(".mrc")),
        "mrc_file_name": _basename(body.get("mrc_file")),
        **basic_document_columns(body),
    }
    rows = [row]
    for index in range(1, len(scales)):
        halved = _halved(scales[index - 1])
        rows.append(
            {
                "where": f"{path}: scales[{index}]",
                "metadata_scale": _zyx_text(scales[index]),
                "metadata_scale_expected": _zyx_text(halved) if halved else None,
            }
        )
    return rows


def _zyx_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{axis}={json.dumps(value.get(axis), default=str)}" for axis in ("z", "y", "x"))
    return json.dumps(value, default=str)


def _halved(scale: Any) -> dict[str, int] | None:
    if not isinstance(scale, dict):
        return None
    values = [scale.get(axis) for axis in ("z", "y", "x")]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return {axis: -(-value // 2) for axis, value in zip(("z", "y", "x"), values, strict=True)}


def _basename(value: Any) -> str:
    return posixpath.basename(str(value)) if value else "(not set)"


def _photo_rows(body: dict[str, Any], *, path: str, photos: dict[str, bytes | None]) -> list[dict[str, Any]]:
    """Rows as `photos.photo_rows` makes them, with the tomogram's heights, 4:3 and `key_photo` names."""
    minimum = {"thumbnail": THUMBNAIL_MIN_HEIGHT, "snapshot": SNAPSHOT_MIN_HEIGHT}
    rows = []
    for kind, photo_path in tomogram_key_photo_paths(body).items():
        [row] = photo_rows(
            {"key_photos": {kind: photo_path}},
            path=path,
            photos=photos,
            min_height=minimum[kind],
            aspect_ratio=KEY_PHOTO_ASPECT_RATIO,
        )
        rows.append({**row, "where": f"{path}: key_photo.{kind} ({photo_path})"})
    return rows


def _document_expectations(spacing: float) -> list:
    import great_expectations.expectations as gxe

    return [
        expect_document_object(),
        gxe.ExpectColumnValuesToBeInSet(
            column="key_photo_missing",
            value_set=[""],
            description="key_photo must name both a snapshot and a thumbnail",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="metadata_size",
            column_B="metadata_scale_0",
            ignore_row_if="either_value_is_missing",
            description="size must equal scales[0]",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="metadata_scale",
            column_B="metadata_scale_expected",
            ignore_row_if="both_values_are_missing",
            description="each scale must be the previous one halved and rounded up on z, y and x",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="metadata_voxel_spacing",
            column_B="voxel_spacing_dir",
            ignore_row_if="both_values_are_missing",
            description=f"voxel_spacing must equal its VoxelSpacing folder's value ({spacing})",
        ),
        expect_deposition_exists(),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="zarr_files",
            column_B="omezarr_dir_name",
            ignore_row_if="both_values_are_missing",
            description="the tomogram folder must hold exactly one .zarr, the one omezarr_dir names",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="mrc_files",
            column_B="mrc_file_name",
            ignore_row_if="both_values_are_missing",
            description="the tomogram folder must hold exactly one .mrc, the one mrc_file names",
        ),
    ]
