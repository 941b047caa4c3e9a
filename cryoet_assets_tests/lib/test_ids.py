"""One numbering for every family that numbers from 100 per container, keyed by the family's identity key."""

import json

import pytest

from cryoet_assets.lib.ids import DuplicateIdentityError, assign_ids, published_ids
from cryoet_assets.lib.storage import open_bucket


def _key(item: dict) -> str:
    return f"{item['kind']}:{item['name']}"


def test_known_keys_keep_their_id_and_new_ones_take_the_next_free_from_100():
    items = [{"kind": "ts", "name": "a"}, {"kind": "ts", "name": "b"}, {"kind": "ts", "name": "c"}]
    ids = assign_ids(items, key_of=_key, existing={"ts:b": 104}, duplicate=lambda first, second: "dup")
    assert ids == [105, 104, 106]
    assert assign_ids(items[:2], key_of=_key, existing={}, duplicate=lambda f, s: "dup") == [100, 101]


def test_two_items_with_one_key_are_refused_with_the_callers_message():
    items = [{"kind": "ts", "name": "a", "src": "x"}, {"kind": "ts", "name": "a", "src": "y"}]
    with pytest.raises(DuplicateIdentityError, match=r"^x and y share a key$"):
        assign_ids(items, key_of=_key, existing={}, duplicate=lambda f, s: f"{f['src']} and {s['src']} share a key")


def test_published_ids_read_the_numeric_folder_of_each_keyed_document(tmp_path):
    bucket = open_bucket(str(tmp_path))
    for folder, doc in [("103", {"kind": "ts", "name": "a"}), ("notanid", {"kind": "ts", "name": "b"}),
                        ("107", {"kind": "ts"}), ("101", {"kind": "ts", "name": "c"})]:
        bucket.write_bytes(f"run/TiltSeries/{folder}/meta.json", json.dumps(doc).encode())
    bucket.write_bytes("run/TiltSeries/102/meta.json", b"not json")

    found = published_ids(bucket, "run/TiltSeries/*/meta.json", key_of=_key)

    assert found == {"ts:a": 103, "ts:c": 101}
