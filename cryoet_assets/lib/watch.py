"""What changed in the configs bucket since the last look: the deposit sensor's cursor, in plain Python."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cryoet_assets.lib.storage import Bucket, ObjectInfo

MARKER_NAME = "_DONE"


@dataclass(frozen=True)
class WatchedConfig:
    """The version of a config and of its deposit's completion marker, as last seen.

    `refused` is the `grants_version` of the granted deposit folders when the config was not planned for
    lying outside them ("" when it was not refused).
    """

    etag: str
    marker: str = ""
    source_prefix: str = ""
    error: str = ""
    refused: str = ""

    @property
    def version(self) -> str:
        return f"{self.etag}|{self.marker}"


@dataclass
class WatchCursor:
    """Per-config versions; comparing versions, not timestamps, survives any number of writes per second."""

    configs: dict[str, WatchedConfig] = field(default_factory=dict)

    def dumps(self) -> str:
        return json.dumps({key: vars(value) for key, value in sorted(self.configs.items())})

    @classmethod
    def loads(cls, text: str | None) -> WatchCursor:
        if not text:
            return cls()
        return cls({key: WatchedConfig(**value) for key, value in json.loads(text).items()})


def marker_key(source_prefix: str) -> str:
    """A deposit is complete when `{source_prefix}/_DONE` exists; rewriting it asks for a new ingestion."""
    prefix = source_prefix.strip("/")
    return f"{prefix}/{MARKER_NAME}" if prefix else MARKER_NAME


def marker_version(deposit: Bucket, source_prefix: str) -> str:
    info = deposit.info(marker_key(source_prefix))
    # An S3 ETag is the MD5 of the content, so a rewritten empty marker keeps it: its time is part of the version.
    return f"{info.etag}@{info.last_modified.isoformat()}" if info else ""


def changed_configs(
    configs: list[ObjectInfo], cursor: WatchCursor, *, deposit: Bucket
) -> tuple[list[ObjectInfo], dict[str, str]]:
    """Configs whose bytes or deposit marker changed since the cursor, oldest first, and current markers."""
    changed: list[ObjectInfo] = []
    markers: dict[str, str] = {}
    for info in sorted(configs, key=lambda item: (item.last_modified, item.key)):
        seen = cursor.configs.get(info.key)
        if seen is None or seen.etag != info.etag:
            changed.append(info)
            continue
        markers[info.key] = marker_version(deposit, seen.source_prefix) if seen.source_prefix else ""
        if markers[info.key] != seen.marker:
            changed.append(info)
    return changed, markers
