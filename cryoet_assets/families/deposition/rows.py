"""RowSets of a deposition's metadata document, as the portal's DB import maps it (facts §5.1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryoet_assets.lib import paths
from cryoet_assets.lib.db.rows import (
    DATE_FIELDS,
    Fields,
    MetadataError,
    author_table_rows,
    photo_url,
    s3_prefix_of,
)
from cryoet_assets.lib.db.sync import Prune, Row, RowSet


def deposition_rowset(
    doc: Mapping[str, Any], *, s3_prefix: str, https_prefix: str, source: str = "deposition_metadata.json"
) -> RowSet:
    """Deposition row + its authors and types; prunes authors and types the document no longer lists."""
    # The portal's deposition table has no prefix columns: s3_prefix is only checked, https_prefix makes
    # the key photo URLs.
    fields = Fields(doc, source)
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
        "key_photo_url": photo_url(https_prefix, key_photos.get("snapshot")),
        "key_photo_thumbnail_url": photo_url(https_prefix, key_photos.get("thumbnail")),
    }
    types = fields.sequence("deposition_types")
    for index, kind in enumerate(types):
        if not isinstance(kind, str):
            raise MetadataError(f"{source}: field 'deposition_types[{index}]' must be a string, got {kind!r}")
    rows = [Row("deposition", deposition)]
    rows += author_table_rows("deposition_author", "deposition_id", deposition_id, fields)
    rows += [Row("deposition_type", {"deposition_id": deposition_id, "type": t}) for t in sorted(set(types))]
    scope = {"deposition_id": deposition_id}
    return RowSet(rows=rows, prunes=[Prune("deposition_author", scope), Prune("deposition_type", scope)])
