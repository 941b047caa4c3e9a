"""Key photos: fetched from the deposit bucket or S3 and published under `{parent}/Images/`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cryoet_assets.lib.photos import fetch_photo, photo_extension, publish_photos
from cryoet_assets.lib.storage import LocalBucket, open_bucket

DEPOSIT_BUCKET_NAME = "cryoetportal-rawdatasets-dev"
SNAPSHOT = b"\x89PNG\r\n\x1a\nsnapshot"
THUMBNAIL = b"\xff\xd8\xff\xe0thumbnail"


@pytest.fixture
def deposit(tmp_path: Path) -> LocalBucket:
    bucket = LocalBucket(tmp_path / DEPOSIT_BUCKET_NAME)
    bucket.write_bytes("lab/photos/snap.png", SNAPSHOT)
    bucket.write_bytes("lab/photos/thumb.JPG", THUMBNAIL)
    return bucket


def test_fetch_from_a_deposit_bucket_path(deposit: LocalBucket) -> None:
    assert fetch_photo(f"{DEPOSIT_BUCKET_NAME}/lab/photos/snap.png", deposit=deposit) == SNAPSHOT


def test_fetch_from_s3(deposit: LocalBucket, s3_bucket_url: Callable[..., tuple[str, str]]) -> None:
    url, endpoint = s3_bucket_url()
    open_bucket(url, endpoint_url=endpoint).write_bytes("photos/a.png", b"from s3")
    assert fetch_photo(f"{url}/photos/a.png", deposit=deposit, endpoint_url=endpoint) == b"from s3"
    with pytest.raises(FileNotFoundError):
        fetch_photo(f"{url}/photos/missing.png", deposit=deposit, endpoint_url=endpoint)


@pytest.mark.parametrize(
    "source",
    ["other-bucket/lab/photos/snap.png", f"{DEPOSIT_BUCKET_NAME}", f"{DEPOSIT_BUCKET_NAME}/", "lab/photos/snap.png"],
)
def test_fetch_refuses_paths_outside_the_deposit_bucket(deposit: LocalBucket, source: str) -> None:
    with pytest.raises(ValueError) as raised:
        fetch_photo(source, deposit=deposit)
    assert str(raised.value) == (
        f"key photo {source!r} is neither a URL nor a path in the deposit bucket {DEPOSIT_BUCKET_NAME!r}"
    )


def test_fetch_refuses_a_climbing_key(deposit: LocalBucket) -> None:
    with pytest.raises(ValueError, match=r"'\.\.'"):
        fetch_photo(f"{DEPOSIT_BUCKET_NAME}/../secret.png", deposit=deposit)


@pytest.mark.parametrize(
    ("source", "extension"),
    [("b/a.png", ".png"), ("b/a.JPG", ".jpg"), ("s3://b/x/a.jpeg", ".jpeg"), ("https://h/a.gif?x=1", ".gif")],
)
def test_photo_extension(source: str, extension: str) -> None:
    assert photo_extension(source) == extension


@pytest.mark.parametrize("source", ["b/a.tiff", "b/a", "b/a.png.txt", "https://h/a.svg"])
def test_photo_extension_refuses_other_files(source: str) -> None:
    with pytest.raises(ValueError, match=r"must end with one of \.png, \.jpg, \.jpeg, \.gif"):
        photo_extension(source)


def test_publish_photos_copies_into_images(deposit: LocalBucket, tmp_path: Path) -> None:
    output = LocalBucket(tmp_path / "staging")
    published = publish_photos(
        {"snapshot": f"{DEPOSIT_BUCKET_NAME}/lab/photos/snap.png", "thumbnail": None},
        parent_dir="20999",
        deposit=deposit,
        output=output,
    )
    assert published == {"snapshot": "20999/Images/snapshot.png", "thumbnail": None}
    assert output.read_bytes("20999/Images/snapshot.png") == SNAPSHOT
    assert [info.key for info in output.list("")] == ["20999/Images/snapshot.png"]


def test_publish_photos_keeps_the_lowercased_extension(deposit: LocalBucket, tmp_path: Path) -> None:
    output = LocalBucket(tmp_path / "staging")
    published = publish_photos(
        {"thumbnail": f"{DEPOSIT_BUCKET_NAME}/lab/photos/thumb.JPG", "snapshot": ""},
        parent_dir="depositions_metadata/10999",
        deposit=deposit,
        output=output,
    )
    assert published == {"snapshot": None, "thumbnail": "depositions_metadata/10999/Images/thumbnail.jpg"}
    assert output.read_bytes("depositions_metadata/10999/Images/thumbnail.jpg") == THUMBNAIL


def test_publish_photos_refuses_a_bad_extension_before_writing(deposit: LocalBucket, tmp_path: Path) -> None:
    output = LocalBucket(tmp_path / "staging")
    deposit.write_bytes("lab/photos/snap.tiff", b"tiff")
    with pytest.raises(ValueError, match=r"snap\.tiff' must end with one of"):
        publish_photos(
            {"snapshot": f"{DEPOSIT_BUCKET_NAME}/lab/photos/snap.tiff"},
            parent_dir="20999",
            deposit=deposit,
            output=output,
        )
    assert list(output.list("")) == []


def test_publish_photos_refuses_an_unsafe_photo_name(deposit: LocalBucket, tmp_path: Path) -> None:
    output = LocalBucket(tmp_path / "staging")
    with pytest.raises(ValueError, match=r"key photo name '\.\./snapshot'"):
        publish_photos(
            {"../snapshot": f"{DEPOSIT_BUCKET_NAME}/lab/photos/snap.png"},
            parent_dir="20999",
            deposit=deposit,
            output=output,
        )
    assert list(output.list("")) == []


def test_dataset_key_photos_fall_back_to_the_first_tomogram_key_image(tmp_path):
    from cryoet_assets.lib.photos import fill_from_tomograms

    output = open_bucket(str(tmp_path))
    vs = "Reconstructions/VoxelSpacing10.000/Images"
    output.write_bytes(f"20/TS_2/{vs}/100/key-photo-snapshot.png", b"second run")
    output.write_bytes(f"20/TS_1/{vs}/101/key-photo-snapshot.png", b"first run, second tomogram")
    output.write_bytes(f"20/TS_1/{vs}/100/key-photo-snapshot.png", b"first run, first tomogram")
    published = {"snapshot": None, "thumbnail": "20/Images/thumbnail.jpg"}
    filled = fill_from_tomograms(published, output=output, dataset_id="20")
    assert filled == {"snapshot": "20/Images/snapshot.png", "thumbnail": "20/Images/thumbnail.jpg"}
    assert output.read_bytes("20/Images/snapshot.png") == b"first run, first tomogram"
    # Nothing to fall back to: the photo stays unset.
    assert fill_from_tomograms({"thumbnail": None}, output=output, dataset_id="20") == {"thumbnail": None}
