"""Key photo checks (facts §4.2 "Photos"): decodable, PNG/JPEG/GIF, big enough."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

PHOTO_KINDS = ("snapshot", "thumbnail")
PHOTO_FORMATS = ("PNG", "JPEG", "GIF")
DEFAULT_MIN_HEIGHT = 50
DEFAULT_ASPECT_RATIO = 1.0
PHOTO_COLUMNS = (
    "photo_found",
    "photo_error",
    "photo_format",
    "photo_width",
    "photo_height",
    "photo_min_width",
    "photo_min_height",
)


@dataclass(frozen=True)
class PhotoFacts:
    """What could be read from a photo's bytes; `error` is set when PIL could not open or verify them."""

    found: bool
    error: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None


def inspect_photo(data: bytes | None) -> PhotoFacts:
    """Open `data` with PIL, note format and size, and run `verify()`; None means the file is missing."""
    from PIL import Image

    if data is None:
        return PhotoFacts(found=False)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format, (width, height) = image.format, image.size
            image.verify()
    except Exception as exc:  # PIL raises many types for bad bytes (OSError, SyntaxError, ValueError, ...)
        return PhotoFacts(found=True, error=f"{type(exc).__name__}: {exc}")
    return PhotoFacts(found=True, error=None, format=image_format, width=width, height=height)


def key_photo_paths(doc: dict[str, Any]) -> dict[str, str]:
    """The key photos a document sets, kind -> bucket-relative path (unset and null entries left out)."""
    key_photos = doc.get("key_photos")
    if not isinstance(key_photos, dict):
        return {}
    return {kind: str(key_photos[kind]) for kind in PHOTO_KINDS if key_photos.get(kind)}


def photo_rows(
    doc: dict[str, Any],
    *,
    path: str,
    photos: dict[str, bytes | None],
    min_height: int = DEFAULT_MIN_HEIGHT,
    aspect_ratio: float = DEFAULT_ASPECT_RATIO,
) -> list[dict[str, Any]]:
    """One frame row per key photo the document sets; `photos` maps each photo path to its bytes or None."""
    rows = []
    for kind, photo_path in key_photo_paths(doc).items():
        facts = inspect_photo(photos.get(photo_path))
        readable = facts.found and facts.error is None
        rows.append(
            {
                "where": f"{path}: key_photos.{kind} ({photo_path})",
                "photo_found": facts.found,
                "photo_error": (facts.error or "") if facts.found else None,
                "photo_format": facts.format,
                "photo_width": facts.width,
                "photo_height": facts.height,
                "photo_min_width": min_height * aspect_ratio if readable else None,
                "photo_min_height": min_height if readable else None,
            }
        )
    return rows


def photo_expectations() -> list:
    """Expectations over `photo_rows` columns; every rule is a failure in the portal's tests, so critical."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeInSet(
            column="photo_found", value_set=[True], description="key photo file is missing"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="photo_error", value_set=[""], description="key photo does not open or fails PIL verify()"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="photo_format",
            value_set=list(PHOTO_FORMATS),
            description=f"key photo must be {', '.join(PHOTO_FORMATS)}",
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="photo_height",
            column_B="photo_min_height",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            description="key photo is lower than the minimum height",
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="photo_width",
            column_B="photo_min_width",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            description="key photo is narrower than the minimum height times the aspect ratio",
        ),
    ]
