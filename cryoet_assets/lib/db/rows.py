"""RowSets built from portal metadata documents the way the portal's DB import maps them (facts §5.1)."""

from __future__ import annotations

import datetime
import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

from cryoet_assets.lib import paths
from cryoet_assets.lib.db.sync import Prune, Ref, Row, RowSet, natural_key

AUTHOR_FIELDS = {
    "orcid": "ORCID",
    "kaggle_id": "kaggle_id",
    "email": "email",
    "affiliation_name": "affiliation_name",
    "affiliation_address": "affiliation_address",
    "affiliation_identifier": "affiliation_identifier",
    "corresponding_author_status": "corresponding_author_status",
    "primary_author_status": "primary_author_status",
}

# dataset column -> (ontology field of dataset_metadata.json, its sub-field)
DATASET_ONTOLOGY_COLUMNS = {
    "organism_name": ("organism", "name"),
    "organism_taxid": ("organism", "taxonomy_id"),
    "tissue_name": ("tissue", "name"),
    "tissue_id": ("tissue", "id"),
    "cell_name": ("cell_type", "name"),
    "cell_type_id": ("cell_type", "id"),
    "cell_strain_name": ("cell_strain", "name"),
    "cell_strain_id": ("cell_strain", "id"),
    "cell_component_name": ("cell_component", "name"),
    "cell_component_id": ("cell_component", "id"),
    "assay_label": ("assay", "name"),
    "assay_ontology_id": ("assay", "id"),
    "development_stage_name": ("development_stage", "name"),
    "development_stage_ontology_id": ("development_stage", "id"),
    "disease_name": ("disease", "name"),
    "disease_ontology_id": ("disease", "id"),
}

DATE_FIELDS = ("deposition_date", "release_date", "last_modified_date")
TOMOGRAM_METADATA_FILE = "tomogram_metadata.json"
VOXEL_SPACING_FOLDER = "VoxelSpacing"


class MetadataError(ValueError):
    """A metadata document lacks a field the database needs, or holds a value of the wrong kind."""


def s3_prefix_of(s3_prefix: str, path: str) -> str:
    """`s3://{bucket}/{path}/` from the bucket's s3 prefix and a bucket-relative directory."""
    return _join(_checked(s3_prefix, ("s3://", "file://")), path) + "/"


def https_prefix_of(https_prefix: str, path: str) -> str:
    """`{https_base}/{path}/` from the bucket's https base and a bucket-relative directory."""
    return _join(_checked(https_prefix, ("https://", "http://", "file://")), path) + "/"


def deposition_rowset(
    doc: Mapping[str, Any], *, s3_prefix: str, https_prefix: str, source: str = "deposition_metadata.json"
) -> RowSet:
    """Deposition row + its authors and types; prunes authors and types the document no longer lists."""
    # The portal's deposition table has no prefix columns: s3_prefix is only checked, https_prefix makes
    # the key photo URLs.
    fields = _Fields(doc, source)
    deposition_id = fields.integer("deposition_identifier")
    s3_prefix_of(s3_prefix, paths.deposition_dir(deposition_id))
    key_photos = fields.mapping("key_photos", required=False)
    deposition = {
        "id": deposition_id,
        "title": fields.text("deposition_title"),
        "description": fields.text("deposition_description"),
        "tag": fields.optional("tag"),
        "deposition_publications": fields.optional("cross_references", "publications"),
        "related_database_entries": fields.optional("cross_references", "related_database_entries"),
        **{name: fields.date("dates", name) for name in DATE_FIELDS},
        "key_photo_url": _photo_url(https_prefix, key_photos.get("snapshot")),
        "key_photo_thumbnail_url": _photo_url(https_prefix, key_photos.get("thumbnail")),
    }
    types = fields.sequence("deposition_types")
    for index, kind in enumerate(types):
        if not isinstance(kind, str):
            raise MetadataError(f"{source}: field 'deposition_types[{index}]' must be a string, got {kind!r}")
    rows = [Row("deposition", deposition)]
    rows += _author_rows("deposition_author", "deposition_id", deposition_id, fields)
    rows += [Row("deposition_type", {"deposition_id": deposition_id, "type": t}) for t in sorted(set(types))]
    scope = {"deposition_id": deposition_id}
    return RowSet(rows=rows, prunes=[Prune("deposition_author", scope), Prune("deposition_type", scope)])


def dataset_rowset(
    doc: Mapping[str, Any],
    *,
    s3_prefix: str,
    https_prefix: str,
    file_size: int | None,
    source: str = "dataset_metadata.json",
) -> RowSet:
    """Dataset row (ontology terms flattened) + authors + funding; prunes authors/funding no longer listed."""
    fields = _Fields(doc, source)
    dataset_id = fields.integer("dataset_identifier")
    directory = paths.dataset_dir(dataset_id)
    key_photos = fields.mapping("key_photos", required=False)
    publications = fields.optional("cross_references", "database_publications") or fields.optional(
        "cross_references", "publications"
    )
    dataset = {
        "id": dataset_id,
        "deposition_id": fields.integer("deposition_id"),
        "title": fields.text("dataset_title"),
        "description": fields.text("dataset_description"),
        **{column: fields.optional(*path) for column, path in DATASET_ONTOLOGY_COLUMNS.items()},
        "sample_type": fields.optional("sample_type"),
        "sample_preparation": fields.optional("sample_preparation"),
        "grid_preparation": fields.optional("grid_preparation"),
        "other_setup": fields.optional("other_setup"),
        "key_photo_url": _photo_url(https_prefix, key_photos.get("snapshot")),
        "key_photo_thumbnail_url": _photo_url(https_prefix, key_photos.get("thumbnail")),
        **{name: fields.date("dates", name) for name in DATE_FIELDS},
        "dataset_publications": publications,
        "related_database_entries": fields.optional("cross_references", "related_database_entries"),
        "s3_prefix": s3_prefix_of(s3_prefix, directory),
        "https_prefix": https_prefix_of(https_prefix, directory),
        "file_size": file_size,
    }
    if dataset["organism_taxid"] is not None:
        dataset["organism_taxid"] = fields.integer("organism", "taxonomy_id")
    rows = [Row("dataset", dataset)]
    rows += _author_rows("dataset_author", "dataset_id", dataset_id, fields)
    for index, funding in enumerate(fields.sequence("funding", required=False)):
        if not isinstance(funding, Mapping):
            raise MetadataError(f"{source}: field 'funding[{index}]' must be an object, got {funding!r}")
        rows.append(
            Row(
                "dataset_funding",
                {
                    "dataset_id": dataset_id,
                    "funding_agency_name": funding.get("funding_agency_name"),
                    "grant_id": funding.get("grant_id"),
                },
            )
        )
    scope = {"dataset_id": dataset_id}
    return RowSet(rows=rows, prunes=[Prune("dataset_author", scope), Prune("dataset_funding", scope)])


def run_rowset(*, dataset_id: int, run_name: str, s3_prefix: str, https_prefix: str) -> RowSet:
    """The run row; its voxel spacing rows come from `voxel_spacing_rowset` once its outputs are published."""
    directory = paths.run_dir(dataset_id, run_name)
    run = {
        "dataset_id": int(dataset_id),
        "name": run_name,
        "s3_prefix": s3_prefix_of(s3_prefix, directory),
        "https_prefix": https_prefix_of(https_prefix, directory),
    }
    return RowSet(rows=[Row("run", run)])


def published_voxel_spacings(folders: Iterable[str], *, where: str) -> list[float]:
    """Voxel spacings (Å, ascending) named by the `VoxelSpacing{vs}` folders among `folders`.

    `folders` are the folder names found under a run's `Reconstructions/` (`where`, named in errors). The
    portal's DB import makes one tomogram_voxel_spacing row per such folder, parsing the spacing from its
    name (facts §5.1); folders with other names are not spacings. A `VoxelSpacing` folder whose name is not
    the normalized `VoxelSpacing{vs:.3f}` (facts §1.4) raises MetadataError naming it.
    """
    spacings = set()
    for name in folders:
        if not name.startswith(VOXEL_SPACING_FOLDER):
            continue
        value = name[len(VOXEL_SPACING_FOLDER) :]
        if not re.fullmatch(r"\d+\.\d{3}", value):
            raise MetadataError(
                f"{where}/{name}: not a voxel spacing folder: the name must be VoxelSpacing followed by the "
                "spacing in Å with 3 decimals, e.g. VoxelSpacing13.480"
            )
        spacings.add(float(value))
    return sorted(spacings)


def voxel_spacing_rowset(
    *, dataset_id: int, run_name: str, voxel_spacings: Iterable[float], s3_prefix: str, https_prefix: str
) -> RowSet:
    """tomogram_voxel_spacing rows of a run, one per spacing (Å, rounded to 3 dp like their folders).

    The run's other spacings are pruned, and their tomograms with them: pass the spacings whose folders
    hold published outputs (`published_voxel_spacings`), as the portal's DB import finds them (facts §5.1).
    """
    run_ref = Ref("run", {"dataset_id": int(dataset_id), "name": run_name})
    rows = []
    for spacing in sorted({round(float(v), 3) for v in voxel_spacings}):
        vs_directory = paths.voxel_spacing_dir(dataset_id, run_name, spacing)
        rows.append(
            Row(
                "tomogram_voxel_spacing",
                {
                    "run_id": run_ref,
                    "voxel_spacing": spacing,
                    "s3_prefix": s3_prefix_of(s3_prefix, vs_directory),
                    "https_prefix": https_prefix_of(https_prefix, vs_directory),
                },
            )
        )
    return RowSet(rows=rows, prunes=[Prune("tomogram_voxel_spacing", {"run_id": run_ref})])


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
        fields = _Fields(documents[path], path)
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
        author_rows += _author_rows("tomogram_author", "tomogram_id", tomogram_ref, fields)
        prunes.append(Prune("tomogram_author", {"tomogram_id": tomogram_ref}))
    return RowSet(rows=rows + author_rows, prunes=prunes)


def dataset_runs_prune(dataset_id: int, keep_run_names: Iterable[str]) -> RowSet:
    """Delete the runs of a dataset (and by cascade their children) not named in `keep_run_names`."""
    paths.dataset_dir(dataset_id)
    keep = tuple({"dataset_id": int(dataset_id), "name": name} for name in sorted(set(keep_run_names)))
    return RowSet(prunes=[Prune("run", {"dataset_id": int(dataset_id)}, keep=keep)])


def _checked(prefix: str, schemes: tuple[str, ...]) -> str:
    if not isinstance(prefix, str) or not prefix.startswith(schemes):
        raise ValueError(f"prefix {prefix!r} must start with {' or '.join(schemes)}")
    return prefix


def _join(base: str, path: str) -> str:
    return f"{base.rstrip('/')}/{path.strip('/')}"


def _photo_url(https_prefix: str, path: Any) -> str | None:
    """URL of a key photo whose path in the metadata is bucket-relative."""
    if not path:
        return None
    return _join(_checked(https_prefix, ("https://", "http://", "file://")), str(path))


def _author_rows(table: str, parent_column: str, parent_id: int | Ref, fields: _Fields) -> list[Row]:
    rows = []
    for index, author in enumerate(fields.sequence("authors")):
        where = f"authors[{index}]"
        if not isinstance(author, Mapping):
            raise MetadataError(f"{fields.source}: field '{where}' must be an object, got {author!r}")
        name = author.get("name")
        if not isinstance(name, str) or not name.strip():
            raise MetadataError(f"{fields.source}: field '{where}.name' is missing or empty")
        values = {parent_column: parent_id, "name": name}
        values.update({column: author.get(key) for column, key in AUTHOR_FIELDS.items()})
        # The portal keeps an explicit order and otherwise numbers authors by position, from 1.
        values["author_list_order"] = author.get("author_list_order") or index + 1
        rows.append(Row(table, values))
    return rows


def _tomogram_values(
    fields: _Fields,
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
        "key_photo_url": _photo_url(https_prefix, key_photo.get("snapshot")),
        "key_photo_thumbnail_url": _photo_url(https_prefix, key_photo.get("thumbnail")),
        "neuroglancer_config": _compact_json(path, neuroglancer_config),
        "publications": fields.optional("cross_references", "publications"),
        "related_database_entries": fields.optional("cross_references", "related_database_entries"),
        **{name: fields.date("dates", name) for name in DATE_FIELDS},
    }


def _voxel_spacing_ref(run_ref: Ref, voxel_spacing: float) -> Ref:
    return Ref("tomogram_voxel_spacing", {"run_id": run_ref, "voxel_spacing": round(float(voxel_spacing), 3)})


def _file_name(fields: _Fields, field: str) -> str:
    # Only the basename counts: the file lives next to its metadata whatever directory the document names.
    name = posixpath.basename(fields.text(field).rstrip("/"))
    if name in ("", ".", ".."):
        raise MetadataError(f"{fields.source}: field '{field}' names no file: {fields.text(field)!r}")
    return name


def _fiducial_alignment_status(fields: _Fields) -> str:
    value = fields.required("fiducial_alignment_status")
    # Older metadata holds a boolean; the portal reads it the same way.
    if isinstance(value, bool):
        return "FIDUCIAL" if value else "NON_FIDUCIAL"
    return fields.text("fiducial_alignment_status")


def _dimensions(fields: _Fields, scale: Any, index: int) -> str:
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


class _Fields:
    """Typed access to a metadata document's fields with errors that name the document and the field."""

    def __init__(self, doc: Mapping[str, Any], source: str) -> None:
        if not isinstance(doc, Mapping):
            raise MetadataError(f"{source}: expected a JSON object, got {type(doc).__name__}")
        self.doc = doc
        self.source = source

    def _error(self, path: tuple[str, ...], problem: str) -> MetadataError:
        return MetadataError(f"{self.source}: field '{'.'.join(path)}' {problem}")

    def optional(self, *path: str) -> Any:
        value: Any = self.doc
        for part in path:
            if value is None:
                return None
            if not isinstance(value, Mapping):
                raise self._error(path, f"cannot be read: {part!r}'s parent is not an object")
            value = value.get(part)
        return value

    def required(self, *path: str) -> Any:
        value = self.optional(*path)
        if value is None:
            raise self._error(path, "is missing")
        return value

    def text(self, *path: str) -> str:
        value = self.required(*path)
        if not isinstance(value, str):
            raise self._error(path, f"must be a string, got {value!r}")
        return value

    def integer(self, *path: str) -> int:
        value = self.required(*path)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise self._error(path, f"must be an integer, got {value!r}")

    def date(self, *path: str) -> datetime.datetime:
        value = self.required(*path)
        if isinstance(value, datetime.datetime):
            return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        if isinstance(value, datetime.date):
            return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC)
        try:
            day = datetime.datetime.strptime(str(value), "%Y-%m-%d")
        except ValueError:
            raise self._error(path, f"must be a date YYYY-MM-DD, got {value!r}") from None
        return day.replace(tzinfo=datetime.UTC)

    def number(self, *path: str, required: bool = True) -> float | None:
        value = self.required(*path) if required else self.optional(*path)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise self._error(path, f"must be a number, got {value!r}")

    def boolean(self, *path: str, required: bool = True) -> bool | None:
        value = self.required(*path) if required else self.optional(*path)
        if value is None or isinstance(value, bool):
            return value
        raise self._error(path, f"must be true or false, got {value!r}")

    def mapping(self, *path: str, required: bool = True) -> Mapping[str, Any]:
        value = self.required(*path) if required else self.optional(*path)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self._error(path, f"must be an object, got {value!r}")
        return value

    def sequence(self, *path: str, required: bool = True) -> list[Any]:
        value = self.required(*path) if required else self.optional(*path)
        if value is None:
            return []
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise self._error(path, f"must be a list, got {value!r}")
        return list(value)
