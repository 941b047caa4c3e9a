"""Portal ids of the entities a container numbers from 100 (tomograms of a run; tilt series, alignments and
annotations later): the same identity key gets the same id on re-ingestion (facts §2.5)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from cryoet_assets.lib.documents import read_json
from cryoet_assets.lib.storage import Bucket

FIRST_ID = 100
Item = TypeVar("Item")


class DuplicateIdentityError(ValueError):
    """Two entities of one container have the same identity key, so the portal would give them one id."""


def published_ids(
    output: Bucket, pattern: str, *, key_of: Callable[[Mapping[str, Any]], str]
) -> dict[str, int]:
    """Ids already published, by identity key: the numeric folder holding each document `pattern` matches.

    `pattern` is a glob of the published metadata documents (the id is the name of the folder holding each);
    `key_of(document)` is the identity key. A document that cannot be read or keyed, or whose folder is not a
    number, is passed over; the first id found for a key wins.
    """
    found: dict[str, int] = {}
    for key in output.glob(pattern):
        folder = posixpath.basename(posixpath.dirname(key))
        if not folder.isdigit():
            continue
        try:
            identity = key_of(read_json(output, key))
        except (ValueError, KeyError, TypeError, FileNotFoundError):
            continue
        found.setdefault(identity, int(folder))
    return found


def assign_ids(
    items: Sequence[Item],
    *,
    key_of: Callable[[Item], str],
    existing: Mapping[str, int],
    duplicate: Callable[[Item, Item], str],
) -> list[int]:
    """Ids for `items` in order: the published id for a known identity key, else the next free one from 100.

    Raises DuplicateIdentityError with `duplicate(first, second)` as its message when two items share a key.
    """
    taken = set(existing.values())
    ids: list[int] = []
    seen: dict[str, Item] = {}
    for item in items:
        key = key_of(item)
        if key in seen:
            raise DuplicateIdentityError(duplicate(seen[key], item))
        seen[key] = item
        if key in existing:
            ids.append(existing[key])
            continue
        new_id = max(taken | set(ids), default=FIRST_ID - 1) + 1
        new_id = max(new_id, FIRST_ID)
        ids.append(new_id)
        taken.add(new_id)
    return ids

