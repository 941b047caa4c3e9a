"""RowSets of a dataset's metadata document, as the portal's DB import maps it (facts §5.1)."""

from __future__ import annotations

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
from cryoet_assets.lib.db.sync import Prune, Row, RowSet


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


def dataset_rowset(
    doc: Mapping[str, Any],
    *,
    s3_prefix: str,
    https_prefix: str,
    file_size: int | None,
    source: str = "dataset_metadata.json",
) -> RowSet:
    """Dataset row (ontology terms flattened) + authors + funding; prunes authors/funding no longer listed."""
    fields = Fields(doc, source)
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
        "key_photo_url": photo_url(https_prefix, key_photos.get("snapshot")),
        "key_photo_thumbnail_url": photo_url(https_prefix, key_photos.get("thumbnail")),
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
    rows += author_table_rows("dataset_author", "dataset_id", dataset_id, fields)
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


def dataset_runs_prune(dataset_id: int, keep_run_names: Iterable[str]) -> RowSet:
    """Delete the runs of a dataset (and by cascade their children) not named in `keep_run_names`."""
    paths.dataset_dir(dataset_id)
    keep = tuple({"dataset_id": int(dataset_id), "name": name} for name in sorted(set(keep_run_names)))
    return RowSet(prunes=[Prune("run", {"dataset_id": int(dataset_id)}, keep=keep)])
