"""Key photos named by a config: fetched from the deposit, S3 or HTTP and copied into the portal layout."""

from __future__ import annotations

import posixpath
import urllib.request
from urllib.parse import urlparse

from cryoet_assets.lib.paths import dataset_dir, key_photo_path
from cryoet_assets.lib.storage import Bucket, open_bucket

PHOTO_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif")
HTTP_TIMEOUT_SECONDS = 30


def fetch_photo(source: str, *, deposit: Bucket, endpoint_url: str | None = None) -> bytes:
    """Bytes of a key photo given as an http(s) URL, an s3:// URI or a `<deposit bucket>/<key>` path."""
    parsed = urlparse(source)
    if parsed.scheme in ("http", "https"):
        with urllib.request.urlopen(source, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return response.read()
    if parsed.scheme == "s3":
        return open_bucket(f"s3://{parsed.netloc}", endpoint_url=endpoint_url).read_bytes(parsed.path.lstrip("/"))
    bucket_name, _, key = source.partition("/")
    if bucket_name != deposit.name or not key:
        raise ValueError(
            f"key photo {source!r} is neither a URL nor a path in the deposit bucket {deposit.name!r}"
        )
    return deposit.read_bytes(key)


def photo_extension(source: str) -> str:
    extension = posixpath.splitext(urlparse(source).path)[1].lower()
    if extension not in PHOTO_EXTENSIONS:
        raise ValueError(f"key photo {source!r} must end with one of {', '.join(PHOTO_EXTENSIONS)}")
    return extension


def publish_photos(
    sources: dict[str, str | None],
    *,
    parent_dir: str,
    deposit: Bucket,
    output: Bucket,
    endpoint_url: str | None = None,
) -> dict[str, str | None]:
    """Copy each named photo to `{parent_dir}/Images/{name}{ext}`; returns name -> bucket-relative path or None."""
    published: dict[str, str | None] = {}
    for name, source in sorted(sources.items()):
        if not source:
            published[name] = None
            continue
        target = key_photo_path(parent_dir, name, photo_extension(source))
        output.write_bytes(target, fetch_photo(source, deposit=deposit, endpoint_url=endpoint_url))
        published[name] = target
    return published


def tomogram_key_photo(output: Bucket, dataset_id: str, name: str) -> str | None:
    """The first published tomogram key image of the dataset for `name` (by run, spacing, id), or None."""
    pattern = f"{dataset_dir(dataset_id)}/*/Reconstructions/VoxelSpacing*/Images/*/key-photo-{name}.png"
    found = sorted(output.glob(pattern))
    return found[0] if found else None


def fill_from_tomograms(
    published: dict[str, str | None], *, output: Bucket, dataset_id: str
) -> dict[str, str | None]:
    """Key photos the config left out, copied from the dataset's tomogram key images as the portal does."""
    filled = dict(published)
    for name, path in published.items():
        if path:
            continue
        source = tomogram_key_photo(output, dataset_id, name)
        if source:
            target = key_photo_path(dataset_dir(dataset_id), name, ".png")
            output.write_bytes(target, output.read_bytes(source))
            filled[name] = target
    return filled
