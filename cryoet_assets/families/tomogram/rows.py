"""RowSets of a run's tomogram documents, as the portal's DB import maps them (facts §5.1)."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

from cryoet_assets.lib import paths
from cryoet_assets.lib.db.rows import (
    DATE_FIELDS,
    Fields,
    MetadataError,
    author_table_rows,
    https_prefix_of,
    photo_url,
    s3_prefix_of,
)
from cryoet_assets.lib.db.sync import Prune, Ref, Row, RowSet, natural_key


TOMOGRAM_METADATA_FILE = "tomogram_metadata.json"


def tomogram_rowset(
    *,
    dataset_id: int,
    run_name: str,
    documents: Mapping[str, Mapping],
    file_sizes: Mapping[str, int],
    dataset_deposition_id: int,
    voxel_spacings: Iterable[float],
    s3_prefix: str,
    https_prefix: str,
    neuroglancer_configs: Mapping[str, str] | None = None,
) -> RowSet:
    """Tomogram rows of a run + their authors; prunes tomograms of its voxel spacings and authors not listed.

    `documents` maps each tomogram_metadata.json bucket path to its document, `file_sizes` the bucket paths of
    the tomograms' MRC files and OME-Zarr folders to their byte sizes, `neuroglancer_configs` each document
    path to its neuroglancer config (JSON text).
    """
    run_ref = Ref("run", {"dataset_id": int(dataset_id), "name": run_name})
    spacings = sorted({round(float(v), 3) for v in voxel_spacings})
    rows: list[Row] = []
    author_rows: list[Row] = []
    prunes = [
        Prune("tomogram", {"tomogram_voxel_spacing_id": _voxel_spacing_ref(run_ref, spacing)})
        for spacing in spacings
    ]
    seen: dict[tuple[Any, ...], str] = {}
    for path in sorted(documents):
        fields = Fields(documents[path], path)
        tomogram = _tomogram_values(
            fields,
            dataset_id=dataset_id,
            run_name=run_name,
            spacings=spacings,
            file_sizes=file_sizes,
            dataset_deposition_id=dataset_deposition_id,
            s3_prefix=s3_prefix,
            https_prefix=https_prefix,
            neuroglancer_config=(neuroglancer_configs or {}).get(path),
        )
        tomogram["run_id"] = run_ref
        tomogram["tomogram_voxel_spacing_id"] = _voxel_spacing_ref(run_ref, tomogram["voxel_spacing"])
        key = {name: tomogram[name] for name in natural_key("tomogram")}
        # The portal's key leaves out the directory, so two documents can claim the same row; refuse that
        # rather than let the later one silently overwrite the earlier.
        identity = tuple(key.values())
        if identity in seen:
            raise MetadataError(
                f"{path}: same deposition_id, processing, processing_software and reconstruction_method at "
                f"this voxel spacing as {seen[identity]}; the portal would store them as one tomogram"
            )
        seen[identity] = path
        tomogram_ref = Ref("tomogram", key)
        rows.append(Row("tomogram", tomogram))
        author_rows += author_table_rows("tomogram_author", "tomogram_id", tomogram_ref, fields)
        prunes.append(Prune("tomogram_author", {"tomogram_id": tomogram_ref}))
    return RowSet(rows=rows + author_rows, prunes=prunes)


def _tomogram_values(
    fields: Fields,
    *,
    dataset_id: int,
    run_name: str,
    spacings: list[float],
    file_sizes: Mapping[str, int],
    dataset_deposition_id: int,
    s3_prefix: str,
    https_prefix: str,
    neuroglancer_config: str | None,
) -> dict[str, Any]:
    """Columns of one tomogram row, except the run and voxel spacing `Ref`s."""
    path = fields.source
    voxel_spacing = fields.number("voxel_spacing")
    spacing = round(voxel_spacing, 3)
    if spacing not in spacings:
        raise MetadataError(f"{path}: voxel spacing {voxel_spacing} is not one of the run's {spacings}")
    tomogram_dir, file_name = posixpath.split(path)
    tomograms_dir = f"{paths.voxel_spacing_dir(dataset_id, run_name, spacing)}/Tomograms/"
    if file_name != TOMOGRAM_METADATA_FILE or not tomogram_dir.startswith(tomograms_dir):
        raise MetadataError(f"{path}: not a {TOMOGRAM_METADATA_FILE} under {tomograms_dir}")
    doc_run = fields.optional("run_name")
    if doc_run is not None and doc_run != run_name:
        raise MetadataError(f"{path}: field 'run_name' is {doc_run!r}, expected {run_name!r}")
    deposition_id = fields.integer("deposition_id")
    omezarr = f"{tomogram_dir}/{_file_name(fields, 'omezarr_dir')}"
    mrc = f"{tomogram_dir}/{_file_name(fields, 'mrc_file')}"
    key_photo = fields.mapping("key_photo", required=False)
    scales = fields.sequence("scales")
    if len(scales) < 3:
        raise MetadataError(f"{path}: field 'scales' must list 3 scales, got {len(scales)}")
    method = fields.optional("reconstruction_method")
    if method is not None and not isinstance(method, str):
        raise MetadataError(f"{path}: field 'reconstruction_method' must be a string, got {method!r}")
    return {
        "deposition_id": deposition_id,
        "name": run_name,
        **{f"size_{axis}": fields.integer("size", axis) for axis in "xyz"},
        "voxel_spacing": voxel_spacing,
        "fiducial_alignment_status": _fiducial_alignment_status(fields),
        # The portal's column holds enum names, which have no spaces ("Fourier Space" -> "Fourier_Space").
        "reconstruction_method": method.replace(" ", "_") if method else "Unknown",
        "processing": fields.text("processing"),
        "tomogram_version": fields.number("tomogram_version", required=False),
        "processing_software": fields.optional("processing_software"),
        "reconstruction_software": fields.optional("reconstruction_software") or "Unknown",
        "is_portal_standard": bool(fields.optional("is_standardized")),
        "is_author_submitted": deposition_id == int(dataset_deposition_id),
        "is_visualization_default": fields.boolean("is_visualization_default", required=False),
        # Like the portal's, these name the file or folder itself: no trailing slash.
        "s3_omezarr_dir": s3_prefix_of(s3_prefix, omezarr).rstrip("/"),
        "https_omezarr_dir": https_prefix_of(https_prefix, omezarr).rstrip("/"),
        "file_size_omezarr": file_sizes.get(omezarr),
        "s3_mrc_file": s3_prefix_of(s3_prefix, mrc).rstrip("/"),
        "https_mrc_file": https_prefix_of(https_prefix, mrc).rstrip("/"),
        "file_size_mrc": file_sizes.get(mrc),
        **{f"scale{i}_dimensions": _dimensions(fields, scales[i], i) for i in range(3)},
        "ctf_corrected": bool(fields.optional("ctf_corrected")),
        **{f"offset_{axis}": fields.integer("offset", axis) for axis in "xyz"},
        "key_photo_url": photo_url(https_prefix, key_photo.get("snapshot")),
        "key_photo_thumbnail_url": photo_url(https_prefix, key_photo.get("thumbnail")),
        "neuroglancer_config": _compact_json(path, neuroglancer_config),
        "publications": fields.optional("cross_references", "publications"),
        "related_database_entries": fields.optional("cross_references", "related_database_entries"),
        **{name: fields.date("dates", name) for name in DATE_FIELDS},
    }


def _voxel_spacing_ref(run_ref: Ref, voxel_spacing: float) -> Ref:
    return Ref("tomogram_voxel_spacing", {"run_id": run_ref, "voxel_spacing": round(float(voxel_spacing), 3)})


def _file_name(fields: Fields, field: str) -> str:
    # Only the basename counts: the file lives next to its metadata whatever directory the document names.
    name = posixpath.basename(fields.text(field).rstrip("/"))
    if name in ("", ".", ".."):
        raise MetadataError(f"{fields.source}: field '{field}' names no file: {fields.text(field)!r}")
    return name


def _fiducial_alignment_status(fields: Fields) -> str:
    value = fields.required("fiducial_alignment_status")
    # Older metadata holds a boolean; the portal reads it the same way.
    if isinstance(value, bool):
        return "FIDUCIAL" if value else "NON_FIDUCIAL"
    return fields.text("fiducial_alignment_status")


def _dimensions(fields: Fields, scale: Any, index: int) -> str:
    """`"x,y,z"` of one entry of `scales`."""
    where = f"scales[{index}]"
    if not isinstance(scale, Mapping):
        raise MetadataError(f"{fields.source}: field '{where}' must be an object, got {scale!r}")
    sizes = []
    for axis in "xyz":
        value = scale.get(axis)
        if not isinstance(value, int) or isinstance(value, bool):
            raise MetadataError(f"{fields.source}: field '{where}.{axis}' must be an integer, got {value!r}")
        sizes.append(str(value))
    return ",".join(sizes)


def _compact_json(path: str, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        config = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise MetadataError(f"{path}: its neuroglancer config is not JSON: {exc}") from None
    return json.dumps(config, separators=(",", ":"))
