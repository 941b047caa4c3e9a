"""The bucket half of production promotion (issue 10, items 3 and 7).

A partition's objects are compared between the staging and the production bucket; only those whose content
differs are copied, each to the same key, and verified after the copy; objects of the partition's scope that
staging no longer has are deleted from production (the portal's `aws s3 sync --delete`). Nothing outside the
scope is touched, and the project's bookkeeping never reaches production.

Order: data objects, then metadata documents (deepest keys first), then deletes of stale metadata documents,
then deletes of stale data. A reader of production therefore never finds a metadata document whose data is not
there yet, wherever the promotion stops (an error, a kill -9); promoting again completes it.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from cryoet_assets.lib import paths
from cryoet_assets.lib.family import Level
from cryoet_assets.lib.keys import parse_acquisition_run_key
from cryoet_assets.lib.storage import (
    CHUNK_SIZE,
    MISSING_CODES,
    TEMP_PREFIX,
    Bucket,
    ObjectInfo,
    S3Bucket,
    UnsafePathError,
    _error_code,
    join_key,
    safe_prefix,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# User metadata on a production copy naming the staging ETag it was copied from: a multipart upload's ETag
# ("<md5 of part md5s>-<parts>") differs from its copy's, so re-promotion compares this instead.
SOURCE_ETAG_METADATA = "source-etag"
# The largest object CopyObject copies in one request (AWS S3 limit); larger ones go through a multipart copy.
MAX_COPY_OBJECT_BYTES = 5 * 1024**3
# Headers a server-side copy carries over from the staging object (MetadataDirective REPLACE drops them).
CARRIED_HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl")
# A failed copy precondition, or the source gone: the staging object is not the planned one any more.
CHANGED_CODES = MISSING_CODES | {"PreconditionFailed", "412"}
# Key photos of a dataset (paths.key_photo_path) are the only folder a dataset partition owns.
DATASET_FOLDERS = ("Images",)


class ContentChangedError(RuntimeError):
    """A staging object is not the one planned: rewritten or deleted since `plan_objects` listed it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class VerificationError(RuntimeError):
    """A copied object does not match its source after the copy; `expected` and `found` describe both."""

    def __init__(self, key: str, expected: str, found: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.expected = expected
        self.found = found


@dataclass(frozen=True)
class Scope:
    """The objects of one partition in a bucket: everything under `prefix`, or, when `folders` is not None,
    only the files directly in `prefix` plus everything under `prefix/<f>/` for f in `folders` (a dataset: its
    dataset_metadata.json and Images/, not its run folders).

    Raises UnsafePathError for a prefix or folder that is not a plain relative path, and for the empty prefix
    (the whole bucket is never one partition's scope).
    """

    prefix: str
    folders: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        prefix = safe_prefix(self.prefix, field="promotion scope prefix")
        if not prefix:
            raise UnsafePathError(
                "promotion scope prefix: empty (the whole bucket is never a partition's scope)"
            )
        object.__setattr__(self, "prefix", prefix)
        if self.folders is not None:
            if isinstance(self.folders, str):
                raise TypeError(
                    f"promotion scope folders must be a tuple of names, not the string {self.folders!r}"
                )
            folders = tuple(safe_prefix(name, field="promotion scope folder") for name in self.folders)
            if "" in folders:
                raise UnsafePathError("promotion scope folder: empty (use folders=None for the whole prefix)")
            object.__setattr__(self, "folders", folders)

    def contains(self, key: str) -> bool:
        """True if the bucket-relative `key` belongs to this scope."""
        if not key.startswith(self.prefix + "/"):
            return False
        if self.folders is None:
            return True
        rest = key[len(self.prefix) + 1 :]
        return "/" not in rest or any(rest.startswith(folder + "/") for folder in self.folders)


def partition_scope(level: Level, key: str) -> Scope:
    """The scope in the portal's layout (facts §2.2) of the partition `key` at partition `level`.

    "deposition", "10301" -> `depositions_metadata/10301/`; "dataset", "10001" -> the files in `10001/` and
    `10001/Images/` (its runs are partitions of their own); "acquisition_run", "10001__TS_01" ->
    `10001/TS_01/`.
    Raises ValueError for an unknown level and UnsafeNameError for a key that is not a safe partition key.
    """
    if level == "deposition":
        return Scope(paths.deposition_dir(key))
    if level == "dataset":
        return Scope(paths.dataset_dir(key), folders=DATASET_FOLDERS)
    if level == "acquisition_run":
        dataset_id, run_name = parse_acquisition_run_key(key)
        return Scope(paths.run_dir(dataset_id, run_name))
    raise ValueError(f"partition level {level!r} is not one of 'deposition', 'dataset', 'acquisition_run'")


def is_metadata_document(key: str) -> bool:
    """True for a `.json` object outside any `*.zarr/` folder (a zarr's `zarr.json`, `.zattrs` are data)."""
    parts = key.lower().split("/")
    return parts[-1].endswith(".json") and not any(part.endswith(".zarr") for part in parts[:-1])


def is_bookkeeping(key: str) -> bool:
    """True for a key that never reaches production: the project's state folder or a temporary file.

    A path component equal to `paths.STATE_PREFIX` (manifests) or starting with `storage.TEMP_PREFIX`.
    """
    return any(part == paths.STATE_PREFIX or part.startswith(TEMP_PREFIX) for part in key.split("/"))


@dataclass
class ObjectPlan:
    """What promoting one scope would do, from listings of both buckets (see `plan_objects`).

    `copy`: staging objects to copy (absent in production or different), data objects first, metadata
    documents last, deepest first; `unchanged`: staging objects production already holds with the same
    content; `delete`: production objects of the scope that staging no longer has, metadata documents first
    (shallowest first), then data; `excluded`: staging keys of the scope never promoted (bookkeeping,
    temporary files); `scope`: the scope planned, which `promote_objects` holds every key to.
    """

    copy: list[ObjectInfo] = field(default_factory=list)
    unchanged: list[ObjectInfo] = field(default_factory=list)
    delete: list[ObjectInfo] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    scope: Scope | None = None

    def staging_digest(self) -> str:
        """`content_digest` of the staging objects the plan promotes (copied or already in production)."""
        return content_digest([*self.copy, *self.unchanged])

    def summary(self) -> dict[str, int]:
        """Counts, and bytes to copy: `copy`, `copy_bytes`, `unchanged`, `delete`, `excluded`."""
        return {
            "copy": len(self.copy),
            "copy_bytes": sum(info.size for info in self.copy),
            "unchanged": len(self.unchanged),
            "delete": len(self.delete),
            "excluded": len(self.excluded),
        }


@dataclass
class ObjectReport:
    """What `promote_objects` did: keys copied (in copy order) and their bytes, how many objects were already
    there unchanged, keys deleted (in delete order), and the wall time in seconds."""

    copied: list[str]
    copied_bytes: int
    unchanged: int
    deleted: list[str]
    seconds: float


def plan_objects(staging: Bucket, production: Bucket, scope: Scope, *, threads: int = 8) -> ObjectPlan:
    """Compare `scope` in both buckets and return what promotion must copy and delete; changes nothing.

    Same content means equal sizes and equal checksums. Between two S3 buckets of one endpoint: equal ETags,
    or the production object's `source-etag` metadata equal to the staging ETag (asked with a HEAD only when
    the ETags differ). Otherwise (local folders, or local and S3): equal SHA-256 of both, streamed; `threads`
    comparisons run at a time. Bookkeeping keys (`is_bookkeeping`) are left out on both sides, so
    production's own are never deleted. Raises what the buckets raise (listing a missing S3 bucket, ...).
    """
    staged = _list_scope(staging, scope)
    excluded = sorted(info.key for info in staged if is_bookkeeping(info.key))
    wanted = {info.key: info for info in staged if not is_bookkeeping(info.key)}
    held = {info.key: info for info in _list_scope(production, scope) if not is_bookkeeping(info.key)}

    candidates = [
        (info, held[key]) for key, info in wanted.items() if key in held and held[key].size == info.size
    ]
    same = _parallel_map(lambda pair: _same_content(staging, production, *pair), candidates, threads)
    unchanged_keys = {pair[0].key for pair, equal in zip(candidates, same, strict=True) if equal}

    return ObjectPlan(
        copy=_write_order(info for key, info in wanted.items() if key not in unchanged_keys),
        unchanged=sorted((wanted[key] for key in unchanged_keys), key=lambda info: info.key),
        delete=_delete_order(info for key, info in held.items() if key not in wanted),
        excluded=excluded,
        scope=scope,
    )


def promote_objects(
    plan: ObjectPlan,
    staging: Bucket,
    production: Bucket,
    *,
    before_metadata: Callable[[], None] | None = None,
    threads: int = 8,
    single_copy_limit: int = MAX_COPY_OBJECT_BYTES,
) -> ObjectReport:
    """Carry out `plan`: copy its objects from `staging` to the same keys in `production`, then delete.

    Data objects are copied `threads` at a time; then `before_metadata()` is called if given (the caller
    re-checks its gate there and raises to stop: no metadata document is written then); then the metadata
    documents, deepest key first; then the stale metadata documents are deleted, shallowest first, and last
    the stale data. Every copy is verified: S3 to S3 of one endpoint is a server-side copy conditional on the
    planned ETag; a single-part object up to `single_copy_limit` bytes is one CopyObject checked by the ETag
    (MD5) it answers with, any other is copied with its source ETag as `source-etag` metadata and checked by a
    HEAD (size and `source-etag`); any other pair streams the object into a temporary file beside its target, hashing it
    (SHA-256), re-checks the staging object's version, publishes the file in one step and hashes the stored
    copy again. S3 throttling (SlowDown, 503) is retried with backoff by the buckets' retry.

    Raises ContentChangedError when a staging object is not the planned one (rewritten or deleted): when it is
    seen before the copy, production keeps its previous object; VerificationError when a copy does not match
    its source; ValueError when the plan names a key outside its scope or a bookkeeping key, or `threads` < 1;
    and the exception of `before_metadata`. The first error stops the promotion: the copies in progress
    finish, no other starts.
    """
    started = time.monotonic()
    _check_plan(plan)
    # The plan lists data before documents (deepest first) and stale documents (shallowest first) before data.
    data = [info for info in plan.copy if not is_metadata_document(info.key)]
    documents = [info for info in plan.copy if is_metadata_document(info.key)]
    stale_documents = [info for info in plan.delete if is_metadata_document(info.key)]
    stale_data = [info for info in plan.delete if not is_metadata_document(info.key)]

    def copy(info: ObjectInfo) -> None:
        _copy_object(staging, production, info, single_copy_limit=single_copy_limit)

    target = production.uri(plan.scope.prefix) if plan.scope else production.url
    log.info("promoting to %s: %d data objects, %d metadata documents, %d deletes",
             target, len(data), len(documents), len(plan.delete))
    _parallel_map(copy, data, threads)
    if before_metadata is not None:
        before_metadata()
    for info in documents:
        copy(info)
    for info in stale_documents:
        production.delete(info.key)
    _parallel_map(lambda info: production.delete(info.key), stale_data, threads)
    return ObjectReport(
        copied=[info.key for info in data + documents],
        copied_bytes=sum(info.size for info in data + documents),
        unchanged=len(plan.unchanged),
        deleted=[info.key for info in stale_documents + stale_data],
        seconds=time.monotonic() - started,
    )


def _check_plan(plan: ObjectPlan) -> None:
    for info in (*plan.copy, *plan.delete):
        if is_bookkeeping(info.key):
            raise ValueError(f"promotion plan names the bookkeeping key {info.key!r}, never promoted")
        if plan.scope is not None and not plan.scope.contains(info.key):
            raise ValueError(f"promotion plan of scope {plan.scope.prefix!r} names {info.key!r}, outside it")


def scope_objects(bucket: Bucket, scope: Scope) -> list[ObjectInfo]:
    """Listing entries of the objects of `scope` in `bucket` that promotion would copy (no bookkeeping),
    sorted by key."""
    return [info for info in _list_scope(bucket, scope) if not is_bookkeeping(info.key)]


def content_digest(infos: Iterable[ObjectInfo]) -> str:
    """SHA-256 hex digest of the (key, size, version tag) of `infos`, in key order: equal digests mean the same
    objects with the same contents (S3 ETags; a local file's modification time and size)."""
    digest = hashlib.sha256()
    for info in sorted(infos, key=lambda item: item.key):
        digest.update(f"{info.key}\t{info.size}\t{info.etag}\n".encode())
    return digest.hexdigest()


def _list_scope(bucket: Bucket, scope: Scope) -> list[ObjectInfo]:
    """Listing entries of the objects of `scope` in `bucket`, sorted by key."""
    if scope.folders is None:
        return list(bucket.list(scope.prefix))
    _, files = bucket.listdir(scope.prefix)
    found = [bucket.info(join_key(scope.prefix, name)) for name in files]
    infos = [info for info in found if info is not None]
    for folder in scope.folders:
        infos.extend(bucket.list(join_key(scope.prefix, folder)))
    return sorted({info.key: info for info in infos}.values(), key=lambda info: info.key)


def _depth(key: str) -> int:
    return key.count("/")


def _deepest_first(info: ObjectInfo) -> tuple[int, str]:
    return -_depth(info.key), info.key


def _shallowest_first(info: ObjectInfo) -> tuple[int, str]:
    return _depth(info.key), info.key


def _write_order(infos: Iterable[ObjectInfo]) -> list[ObjectInfo]:
    """Data objects by key, then metadata documents deepest first."""
    infos = list(infos)
    data = sorted((info for info in infos if not is_metadata_document(info.key)), key=lambda info: info.key)
    documents = sorted((info for info in infos if is_metadata_document(info.key)), key=_deepest_first)
    return data + documents


def _delete_order(infos: Iterable[ObjectInfo]) -> list[ObjectInfo]:
    """Metadata documents shallowest first, then data objects by key."""
    infos = list(infos)
    documents = sorted((info for info in infos if is_metadata_document(info.key)), key=_shallowest_first)
    data = sorted((info for info in infos if not is_metadata_document(info.key)), key=lambda info: info.key)
    return documents + data


def _server_side(staging: Bucket, production: Bucket) -> bool:
    """True when production's S3 service can copy from staging itself (both S3, one endpoint)."""
    return (
        isinstance(staging, S3Bucket)
        and isinstance(production, S3Bucket)
        and staging.endpoint_url == production.endpoint_url
    )


def _same_content(staging: Bucket, production: Bucket, staged: ObjectInfo, held: ObjectInfo) -> bool:
    """The one place that decides whether production already holds a staging object's content."""
    if staged.size != held.size:
        return False
    if _server_side(staging, production):
        if staged.etag == held.etag:
            return True
        head = production._head(held.key)  # type: ignore[attr-defined]
        return head is not None and _head_source_etag(head) == staged.etag
    try:
        return _sha256(staging, staged.key) == _sha256(production, held.key)
    except FileNotFoundError:
        # Gone since the listing: planned as a copy, which then reports the change.
        return False


def _sha256(bucket: Bucket, key: str) -> tuple[str, int]:
    """(SHA-256 hex digest, size in bytes) of the object `key`, streamed."""
    with bucket.open_read(key) as handle:
        return _hash_stream(handle)


def _hash_stream(source: IO[bytes], sink: IO[bytes] | None = None) -> tuple[str, int]:
    """(SHA-256 hex digest, size in bytes) of what `source` holds, written on to `sink` if given."""
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: source.read(CHUNK_SIZE), b""):
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    return digest.hexdigest(), size


def _head_etag(head: dict[str, Any] | None) -> str | None:
    return None if head is None else str(head.get("ETag", "")).strip('"')


def _head_source_etag(head: dict[str, Any]) -> str | None:
    return (head.get("Metadata") or {}).get(SOURCE_ETAG_METADATA)


def _changed(staging: Bucket, info: ObjectInfo, now: str | None) -> ContentChangedError:
    return ContentChangedError(
        info.key,
        f"{staging.uri(info.key)} changed since the promotion was planned (version {info.etag} planned, "
        f"{'deleted' if now is None else now} now): its checks must pass on the new content before it is "
        "promoted",
    )


def _copy_object(staging: Bucket, production: Bucket, info: ObjectInfo, *, single_copy_limit: int) -> None:
    if _server_side(staging, production):
        _copy_server_side(staging, production, info, single_copy_limit)  # type: ignore[arg-type]
    else:
        _copy_streaming(staging, production, info)
    log.debug("copied %s (%d bytes)", info.key, info.size)


def _copy_server_side(
    staging: S3Bucket, production: S3Bucket, info: ObjectInfo, single_copy_limit: int
) -> None:
    from botocore.exceptions import ClientError

    if info.size <= single_copy_limit and "-" not in info.etag:
        _copy_single_part(staging, production, info)
        return
    head = staging._head(info.key)
    if _head_etag(head) != info.etag:
        raise _changed(staging, info, _head_etag(head))
    assert head is not None
    extra: dict[str, Any] = {name: head[name] for name in CARRIED_HEADERS if head.get(name)}
    extra["Metadata"] = {**(head.get("Metadata") or {}), SOURCE_ETAG_METADATA: info.etag}
    extra["MetadataDirective"] = "REPLACE"
    # Guards the moment between the HEAD above and the copy: S3 refuses to copy another version.
    extra["CopySourceIfMatch"] = f'"{info.etag}"'
    source = {"Bucket": staging.bucket_name, "Key": staging._full(info.key)}
    target = production._full(info.key)
    single = info.size <= single_copy_limit
    client = production.client
    try:
        if single:
            production._retry(
                lambda: client.copy_object(
                    Bucket=production.bucket_name, Key=target, CopySource=source, **extra
                )
            )
        else:
            production._retry(lambda: client.copy(source, production.bucket_name, target, ExtraArgs=extra))
    except ClientError as exc:
        if _error_code(exc) in CHANGED_CODES:
            raise _changed(staging, info, _head_etag(staging._head(info.key))) from exc
        raise

    copied = production._head(info.key)
    size = None if copied is None else int(copied["ContentLength"])
    expected = f"size {info.size}, {SOURCE_ETAG_METADATA} {info.etag}"
    found = f"size {size}, {SOURCE_ETAG_METADATA} {None if copied is None else _head_source_etag(copied)}"
    if expected != found:
        _raise_mismatch(staging, production, info, expected, found)


def _copy_single_part(staging: S3Bucket, production: S3Bucket, info: ObjectInfo) -> None:
    """One request: CopyObject keeps the object's content type and metadata (`MetadataDirective=COPY`), refuses
    a source that is no longer the planned version (`CopySourceIfMatch`), and answers with the ETag of what it
    wrote, the MD5 of its content for a single-part object, which is checked against the planned one."""
    from botocore.exceptions import ClientError

    source = {"Bucket": staging.bucket_name, "Key": staging._full(info.key)}
    try:
        response = production._retry(
            lambda: production.client.copy_object(
                Bucket=production.bucket_name, Key=production._full(info.key), CopySource=source,
                CopySourceIfMatch=f'"{info.etag}"', MetadataDirective="COPY",
            )
        )
    except ClientError as exc:
        if _error_code(exc) in CHANGED_CODES:
            raise _changed(staging, info, _head_etag(staging._head(info.key))) from exc
        raise
    found = str(response.get("CopyObjectResult", {}).get("ETag", "")).strip('"')
    if found != info.etag:
        _raise_mismatch(staging, production, info, f"ETag {info.etag}", f"ETag {found}")


def _copy_streaming(staging: Bucket, production: Bucket, info: ObjectInfo) -> None:
    with production.work_dir(info.key) as work:
        local = work / posixpath.basename(info.key)
        digest, size = _stream_to_file(staging, info, local)
        now = staging.info(info.key)
        if now is None or now.etag != info.etag or size != info.size:
            # The temporary copy is dropped with the work folder: production keeps what it had.
            raise _changed(staging, info, None if now is None else now.etag)
        production.publish_file(local, info.key)
    found_digest, found_size = _sha256(production, info.key)
    expected = f"size {size}, SHA-256 {digest}"
    found = f"size {found_size}, SHA-256 {found_digest}"
    if expected != found:
        _raise_mismatch(staging, production, info, expected, found)


def _stream_to_file(staging: Bucket, info: ObjectInfo, local: Path) -> tuple[str, int]:
    """Copy the staging object to the local file `local`; (SHA-256 hex digest, size) of what was read."""
    try:
        source = staging.open_read(info.key)
    except FileNotFoundError:
        raise _changed(staging, info, None) from None
    with source, local.open("wb") as out:
        return _hash_stream(source, out)


def _raise_mismatch(staging: Bucket, production: Bucket, info: ObjectInfo, expected: str, found: str) -> None:
    """Raise ContentChangedError if the staging object moved meanwhile, else VerificationError."""
    now = staging.info(info.key)
    if now is None or now.etag != info.etag:
        raise _changed(staging, info, None if now is None else now.etag)
    raise VerificationError(
        info.key,
        expected,
        found,
        f"{production.uri(info.key)} does not match its source {staging.uri(info.key)} after the copy: "
        f"expected {expected}, found {found}",
    )


def _parallel_map(func: Callable[[T], R], items: Sequence[T], threads: int) -> list[R]:
    """`func` over `items`, `threads` at a time, results in order; the first error cancels what has not
    started, waits for what has, and is raised."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads!r}")
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        futures = [pool.submit(func, item) for item in items]
        error: BaseException | None = None
        for future in as_completed(futures):
            if future.cancelled() or future.exception() is None or error is not None:
                continue
            error = future.exception()
            for other in futures:
                other.cancel()
    if error is not None:
        raise error
    return [future.result() for future in futures]
