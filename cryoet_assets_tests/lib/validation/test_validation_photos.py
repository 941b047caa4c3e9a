from __future__ import annotations

import pytest

from cryoet_assets.lib.validation.photos import inspect_photo, key_photo_paths, photo_rows


def test_inspect_valid_png_reports_format_and_size(image):
    facts = inspect_photo(image(120, 80))
    assert (facts.found, facts.error, facts.format, facts.width, facts.height) == (True, None, "PNG", 120, 80)


def test_inspect_truncated_png_reports_the_pil_error(image):
    facts = inspect_photo(image()[:60])
    assert facts.found
    assert facts.error is not None and facts.error.startswith(("OSError", "SyntaxError"))
    assert facts.format is None


def test_inspect_non_image_bytes_is_an_error():
    facts = inspect_photo(b"definitely not an image")
    assert facts.error is not None and "UnidentifiedImageError" in facts.error


def test_inspect_missing_photo_is_not_found():
    facts = inspect_photo(None)
    assert not facts.found and facts.error is None


def test_inspect_bmp_reads_fine_but_reports_its_format(image):
    facts = inspect_photo(image(60, 60, "BMP"))
    assert (facts.error, facts.format) == (None, "BMP")


def test_key_photo_paths_skips_unset_entries():
    doc = {"key_photos": {"snapshot": "1/Images/snapshot.png", "thumbnail": None, "other": "x.png"}}
    assert key_photo_paths(doc) == {"snapshot": "1/Images/snapshot.png"}
    assert key_photo_paths({"key_photos": "nope"}) == {}
    assert key_photo_paths({}) == {}


def test_photo_rows_name_the_document_field_and_photo(image):
    doc = {"key_photos": {"snapshot": "1/Images/snapshot.png", "thumbnail": "1/Images/thumbnail.png"}}
    rows = photo_rows(doc, path="1/dataset_metadata.json", photos={"1/Images/snapshot.png": image(80, 60)},
                      min_height=50, aspect_ratio=4 / 3)
    by_where = {row["where"]: row for row in rows}
    snapshot = by_where["1/dataset_metadata.json: key_photos.snapshot (1/Images/snapshot.png)"]
    assert snapshot["photo_found"] is True and snapshot["photo_error"] == ""
    assert snapshot["photo_min_width"] == pytest.approx(200 / 3) and snapshot["photo_min_height"] == 50
    thumbnail = by_where["1/dataset_metadata.json: key_photos.thumbnail (1/Images/thumbnail.png)"]
    assert thumbnail["photo_found"] is False and thumbnail["photo_error"] is None
