"""The configs-bucket watch: cursor round trip and which configs count as new or changed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cryoet_assets.lib.storage import Bucket, LocalBucket, ObjectInfo, open_bucket
from cryoet_assets.lib.watch import (
    WatchCursor,
    WatchedConfig,
    changed_configs,
    marker_key,
    marker_version,
)

PREFIX = "lab/deposit_a"
OTHER_PREFIX = "lab/deposit_b"


def listed(bucket: Bucket) -> list[ObjectInfo]:
    return list(bucket.list(""))


def seen_now(configs: Bucket, deposit: Bucket, prefixes: dict[str, str]) -> WatchCursor:
    """A cursor that has seen every config as it is now, with its deposit's current marker."""
    return WatchCursor(
        {
            info.key: WatchedConfig(
                etag=info.etag, marker=marker_version(deposit, prefixes[info.key]), source_prefix=prefixes[info.key]
            )
            for info in listed(configs)
        }
    )


def test_cursor_round_trips_through_text() -> None:
    cursor = WatchCursor(
        {
            "b.yaml": WatchedConfig(etag="2-10", marker="m@t", source_prefix="lab/b"),
            "a.yaml": WatchedConfig(etag="1-10", error="a.yaml:3: invalid YAML"),
            "c.yaml": WatchedConfig(etag="3-10", error="c.yaml is not planned: outside", refused="0123abcd"),
        }
    )
    text = cursor.dumps()
    assert list(json.loads(text)) == ["a.yaml", "b.yaml", "c.yaml"]
    assert json.loads(text)["b.yaml"] == {"etag": "2-10", "marker": "m@t", "source_prefix": "lab/b",
                                          "error": "", "refused": ""}
    # A cursor written before configs could be refused for lying outside the granted folders still loads.
    assert WatchCursor.loads('{"b.yaml": {"etag": "2-10", "marker": "m@t", "source_prefix": "lab/b", '
                             '"error": ""}}').configs["b.yaml"] == cursor.configs["b.yaml"]
    again = WatchCursor.loads(text)
    assert again == cursor
    assert again.dumps() == text
    assert again.configs["b.yaml"].version == "2-10|m@t"
    assert WatchCursor.loads(None) == WatchCursor() == WatchCursor.loads("")


def test_marker_key_and_version(tmp_path: Path) -> None:
    deposit = LocalBucket(tmp_path / "deposit")
    assert marker_key("/lab/deposit_a/") == "lab/deposit_a/_DONE"
    assert marker_key("") == "_DONE"
    assert marker_version(deposit, PREFIX) == ""
    deposit.write_bytes(f"{PREFIX}/_DONE", b"")
    deposit.write_bytes(f"{PREFIX}/_DONE.bak", b"")
    deposit.write_bytes(f"{PREFIX}/sub/_DONE", b"")
    info = deposit.info(f"{PREFIX}/_DONE")
    assert info is not None and info.key == f"{PREFIX}/_DONE"
    first = marker_version(deposit, PREFIX)
    assert first.startswith(info.etag)
    deposit.write_bytes(f"{PREFIX}/_DONE", b"")
    assert marker_version(deposit, PREFIX) not in ("", first)
    assert deposit.info(f"{PREFIX}/missing") is None


@pytest.fixture
def buckets(tmp_path: Path) -> tuple[LocalBucket, LocalBucket]:
    configs, deposit = LocalBucket(tmp_path / "configs"), LocalBucket(tmp_path / "deposit")
    configs.write_bytes("a.yaml", b"config a v1")
    configs.write_bytes("b.yaml", b"config b v1")
    deposit.write_bytes(f"{PREFIX}/_DONE", b"")
    deposit.write_bytes(f"{OTHER_PREFIX}/_DONE", b"")
    return configs, deposit


PREFIXES = {"a.yaml": PREFIX, "b.yaml": OTHER_PREFIX, "c.yaml": PREFIX}


def test_unchanged_configs_are_ignored(buckets: tuple[LocalBucket, LocalBucket]) -> None:
    configs, deposit = buckets
    cursor = seen_now(configs, deposit, PREFIXES)
    changed, markers = changed_configs(listed(configs), cursor, deposit=deposit)
    assert changed == []
    assert markers == {"a.yaml": cursor.configs["a.yaml"].marker, "b.yaml": cursor.configs["b.yaml"].marker}
    assert all(markers.values())


def test_new_and_same_second_same_size_rewrites_are_changes(buckets: tuple[LocalBucket, LocalBucket]) -> None:
    configs, deposit = buckets
    cursor = seen_now(configs, deposit, PREFIXES)
    before = {info.key: info for info in listed(configs)}
    # Same size, written right after the last write: only the version tag can tell them apart.
    configs.write_bytes("a.yaml", b"config a v2")
    configs.write_bytes("c.yaml", b"config c v1")
    after = {info.key: info for info in listed(configs)}
    assert after["a.yaml"].size == before["a.yaml"].size
    assert after["a.yaml"].etag != before["a.yaml"].etag

    changed, markers = changed_configs(listed(configs), cursor, deposit=deposit)
    assert sorted(info.key for info in changed) == ["a.yaml", "c.yaml"]
    assert list(markers) == ["b.yaml"]


def test_rewriting_the_same_bytes_counts_as_a_change_locally(buckets: tuple[LocalBucket, LocalBucket]) -> None:
    configs, deposit = buckets
    cursor = seen_now(configs, deposit, PREFIXES)
    configs.write_bytes("b.yaml", configs.read_bytes("b.yaml"))
    changed, _ = changed_configs(listed(configs), cursor, deposit=deposit)
    assert [info.key for info in changed] == ["b.yaml"]


def test_a_rewritten_marker_changes_only_its_configs(buckets: tuple[LocalBucket, LocalBucket]) -> None:
    configs, deposit = buckets
    configs.write_bytes("c.yaml", b"config c v1")
    cursor = seen_now(configs, deposit, PREFIXES)
    deposit.write_bytes(f"{PREFIX}/_DONE", b"")

    changed, markers = changed_configs(listed(configs), cursor, deposit=deposit)
    assert sorted(info.key for info in changed) == ["a.yaml", "c.yaml"]
    assert markers["a.yaml"] == markers["c.yaml"] == marker_version(deposit, PREFIX)
    assert markers["a.yaml"] != cursor.configs["a.yaml"].marker
    assert markers["b.yaml"] == cursor.configs["b.yaml"].marker


def test_a_removed_marker_is_a_change(buckets: tuple[LocalBucket, LocalBucket]) -> None:
    configs, deposit = buckets
    cursor = seen_now(configs, deposit, PREFIXES)
    deposit.delete(f"{OTHER_PREFIX}/_DONE")
    changed, markers = changed_configs(listed(configs), cursor, deposit=deposit)
    assert [info.key for info in changed] == ["b.yaml"]
    assert markers["b.yaml"] == ""


def test_configs_seen_with_an_error_wait_for_new_bytes(buckets: tuple[LocalBucket, LocalBucket]) -> None:
    configs, deposit = buckets
    (info,) = [info for info in listed(configs) if info.key == "a.yaml"]
    cursor = WatchCursor({"a.yaml": WatchedConfig(etag=info.etag, error="bad"), "b.yaml": WatchedConfig(etag="x")})
    changed, markers = changed_configs(listed(configs), cursor, deposit=deposit)
    assert [info.key for info in changed] == ["b.yaml"]
    assert markers == {"a.yaml": ""}


def test_changes_come_oldest_first(tmp_path: Path) -> None:
    configs, deposit = LocalBucket(tmp_path / "configs"), LocalBucket(tmp_path / "deposit")
    for name in ("z.yaml", "m.yaml", "a.yaml"):
        configs.write_bytes(name, b"x")
    changed, _ = changed_configs(listed(configs), WatchCursor(), deposit=deposit)
    assert [info.key for info in changed] == ["z.yaml", "m.yaml", "a.yaml"]


def test_a_rewritten_empty_marker_on_s3_is_a_change(s3_bucket_url: Callable[..., tuple[str, str]]) -> None:
    # S3 ETags are content hashes, so an identical empty marker keeps its ETag; its time still moves.
    url, endpoint = s3_bucket_url()
    deposit = open_bucket(url, endpoint_url=endpoint)
    deposit.write_bytes(f"{PREFIX}/_DONE", b"")
    first = deposit.info(f"{PREFIX}/_DONE")
    version = marker_version(deposit, PREFIX)
    assert first is not None and version.startswith(first.etag)
    time.sleep(1.05)  # S3 times have one-second resolution
    deposit.write_bytes(f"{PREFIX}/_DONE", b"")
    second = deposit.info(f"{PREFIX}/_DONE")
    assert second is not None and second.etag == first.etag
    assert marker_version(deposit, PREFIX) != version
