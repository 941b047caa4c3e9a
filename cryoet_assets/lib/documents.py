"""Metadata documents and how they are written to a bucket."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from cryoet_assets.lib.paths import STATE_PREFIX, state_path
from cryoet_assets.lib.storage import Bucket

TIMESTAMP_FIELD = "last_updated_at"


@dataclass
class PortalDocuments:
    """JSON documents an asset publishes at portal paths, plus its family's manifest kept beside them.

    The producer sets `summary` to its family's manifest model; read back from the bucket it is that model's
    JSON, which the consumer validates with the same model class (`XManifest.model_validate(summary)`).
    """

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary: BaseModel | dict[str, Any] = field(default_factory=dict)


def dumps(doc: Any) -> bytes:
    """Serialize a document the way the portal does (pretty, indent 4)."""
    return (json.dumps(doc, indent=4, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def read_json(bucket: Bucket, key: str) -> Any:
    """Read a JSON document, naming the object in the error when it is not valid JSON."""
    data = bucket.read_bytes(key)
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ValueError(f"{bucket.uri(key)} is not valid JSON: {exc}") from exc


def write_document(
    bucket: Bucket, key: str, doc: dict[str, Any], *, now: int | None = None
) -> tuple[dict[str, Any], Literal["written", "unchanged"]]:
    """Write `doc` with a fresh `last_updated_at` unless the stored one differs only by that timestamp.

    Keeping the stored document when nothing else changed makes re-materialization a true no-op:
    same bytes in the bucket, same rows in the database.
    """
    if bucket.exists(key):
        try:
            existing = read_json(bucket, key)
        except ValueError:
            existing = None
        if isinstance(existing, dict) and _without_timestamp(existing) == _without_timestamp(doc):
            return existing, "unchanged"
    stamped = {**doc, TIMESTAMP_FIELD: int(time.time()) if now is None else now}
    bucket.write_bytes(key, dumps(stamped), content_type="application/json")
    return stamped, "written"


def _without_timestamp(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != TIMESTAMP_FIELD}


def read_manifest(bucket: Bucket, asset_name: str, partition_key: str | None) -> dict[str, Any]:
    """The manifest the bucket IO manager stored for an asset partition; FileNotFoundError if none."""
    return read_json(bucket, state_path(asset_name, partition_key))


def stored_values(bucket: Bucket, asset_name: str) -> list[Any]:
    """The JSON values stored for every materialized partition of an asset."""
    return [read_json(bucket, info.key)["value"] for info in bucket.list(f"{STATE_PREFIX}/{asset_name}/")]


def type_name(value: object) -> str:
    """JSON type name of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
