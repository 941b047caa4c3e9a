"""Tiny documents and images for the validation suite tests."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

SNAPSHOT = "depositions_metadata/10301/Images/snapshot.png"
THUMBNAIL = "depositions_metadata/10301/Images/thumbnail.jpg"


def _image(width: int = 120, height: int = 80, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.fixture
def image() -> Callable[..., bytes]:
    """Encode a solid RGB image: image(width, height, image_format)."""
    return _image


def _authors() -> list[dict[str, Any]]:
    return [
        {"name": "Ada Author", "primary_author_status": True, "corresponding_author_status": False},
        {"name": "Ben Author", "primary_author_status": False},
        {"name": "Cy Author", "corresponding_author_status": True, "ORCID": "0000-0002-1825-0097"},
    ]


@pytest.fixture
def deposition_doc() -> dict[str, Any]:
    """A deposition_metadata.json that passes every rule."""
    return {
        "deposition_id": 10301,
        "deposition_identifier": 10301,
        "deposition_title": "Sub-tomogram averages of ribosomes",
        "deposition_description": "Tomograms and annotations of ribosomes in situ.",
        "deposition_types": ["dataset"],
        "dates": {
            "deposition_date": "2024-01-01",
            "release_date": "2024-02-01",
            "last_modified_date": "2024-02-01",
        },
        "authors": _authors(),
        "key_photos": {"snapshot": SNAPSHOT, "thumbnail": THUMBNAIL},
        "last_updated_at": 1718000000,
    }


@pytest.fixture
def dataset_doc() -> dict[str, Any]:
    """A dataset_metadata.json that passes every rule."""
    return {
        "dataset_identifier": 10000,
        "dataset_title": "Yeast lamellae",
        "dataset_description": "Cryo-FIB milled lamellae of S. cerevisiae.",
        "deposition_id": 10301,
        "authors": copy.deepcopy(_authors()),
        "organism": {"name": "Saccharomyces cerevisiae", "taxonomy_id": 4932},
        "key_photos": {"snapshot": "10000/Images/snapshot.png", "thumbnail": None},
        "last_updated_at": 1718000000,
    }


@pytest.fixture
def good_photos() -> dict[str, bytes | None]:
    """Bytes for the deposition fixture's key photos: a PNG snapshot and a JPEG thumbnail."""
    return {SNAPSHOT: _image(), THUMBNAIL: _image(64, 50, "JPEG")}
