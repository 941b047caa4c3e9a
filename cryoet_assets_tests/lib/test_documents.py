"""Writing metadata documents: pretty JSON, a timestamp, and no rewrite when nothing but the timestamp differs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cryoet_assets.lib.documents import dumps, read_json, write_document
from cryoet_assets.lib.storage import LocalBucket

KEY = "20999/dataset_metadata.json"
DOC = {"dataset_identifier": 20999, "dataset_title": "Grün cells", "authors": [{"name": "Ada"}], "tag": None}


@pytest.fixture
def bucket(tmp_path: Path) -> LocalBucket:
    return LocalBucket(tmp_path / "staging")


def test_write_document_writes_pretty_json_with_timestamp(bucket: LocalBucket) -> None:
    stored, outcome = write_document(bucket, KEY, DOC, now=1_700_000_000)
    assert outcome == "written"
    assert stored == {**DOC, "last_updated_at": 1_700_000_000}
    text = bucket.read_text(KEY)
    assert text == json.dumps(stored, indent=4, ensure_ascii=False) + "\n"
    assert text.startswith('{\n    "dataset_identifier": 20999,\n    "dataset_title": "Grün cells",')
    assert text.rstrip().endswith('"last_updated_at": 1700000000\n}')
    assert read_json(bucket, KEY) == stored
    assert DOC.get("last_updated_at") is None


def test_write_document_defaults_to_the_current_time(bucket: LocalBucket) -> None:
    before = int(time.time())
    stored, _ = write_document(bucket, KEY, DOC)
    assert before <= stored["last_updated_at"] <= int(time.time())
    assert isinstance(stored["last_updated_at"], int)


def test_rewriting_the_same_content_keeps_bytes_and_timestamp(bucket: LocalBucket) -> None:
    write_document(bucket, KEY, DOC, now=1000)
    data = bucket.read_bytes(KEY)
    (etag,) = [info.etag for info in bucket.list("20999")]

    stored, outcome = write_document(bucket, KEY, dict(DOC), now=2000)
    assert outcome == "unchanged"
    assert stored["last_updated_at"] == 1000
    assert bucket.read_bytes(KEY) == data
    assert [info.etag for info in bucket.list("20999")] == [etag]

    # A caller's own stale timestamp does not count as a change either.
    _, outcome = write_document(bucket, KEY, {**DOC, "last_updated_at": 5}, now=3000)
    assert outcome == "unchanged"
    assert read_json(bucket, KEY)["last_updated_at"] == 1000


def test_a_changed_field_rewrites_with_a_new_timestamp(bucket: LocalBucket) -> None:
    write_document(bucket, KEY, DOC, now=1000)
    changed = {**DOC, "authors": [{"name": "Ada"}, {"name": "Grace"}]}
    stored, outcome = write_document(bucket, KEY, changed, now=2000)
    assert outcome == "written"
    assert stored == {**changed, "last_updated_at": 2000}
    assert bucket.read_bytes(KEY) == dumps(stored)


def test_a_corrupt_stored_document_is_replaced(bucket: LocalBucket) -> None:
    bucket.write_bytes(KEY, b"{not json")
    with pytest.raises(ValueError, match=r"dataset_metadata\.json is not valid JSON"):
        read_json(bucket, KEY)
    stored, outcome = write_document(bucket, KEY, DOC, now=1000)
    assert outcome == "written"
    assert read_json(bucket, KEY) == stored


def test_a_stored_non_object_is_replaced(bucket: LocalBucket) -> None:
    bucket.write_bytes(KEY, b"[1, 2]")
    _, outcome = write_document(bucket, KEY, DOC, now=1000)
    assert outcome == "written"
    assert read_json(bucket, KEY)["dataset_identifier"] == 20999
