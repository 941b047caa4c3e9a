"""One interface over local folders and S3 buckets, addressed by bucket-relative POSIX keys."""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import re
import shutil
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import unquote, urlparse

log = logging.getLogger(__name__)

T = TypeVar("T")

CHUNK_SIZE = 8 * 1024 * 1024
UPLOAD_THREADS = 8
# Local writes go through hidden temp files and work folders beside their target; listings never show these.
TEMP_PREFIX = ".cryoet-tmp-"
GLOB_MAGIC = re.compile(r"[*?\[]")
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
THROTTLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "ServiceUnavailable",
        "503",
    }
)

# A fixed table, not the host's mime database (which maps e.g. ".mrc" to MARC records).
CONTENT_TYPES = {
    ".json": "application/json",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".html": "text/html",
}

Data = bytes | bytearray | memoryview | Iterable[bytes]


class UnsafePathError(ValueError):
    """A key, prefix or glob that is not a plain relative path inside its bucket."""


def safe_key(key: object, *, field: str) -> str:
    """Return `key` if it is a safe bucket-relative POSIX path, else raise UnsafePathError naming `field`."""
    if not isinstance(key, str):
        raise UnsafePathError(f"{field}: path {key!r} must be a string")
    reason = _unsafe_reason(key)
    if reason:
        raise UnsafePathError(f"{field}: unsafe path {key!r}: {reason}")
    return key


def _unsafe_reason(key: str) -> str | None:
    if key == "":
        return "it is empty"
    if "\x00" in key:
        return "it contains a NUL character"
    if "\\" in key:
        return "it contains a backslash"
    if key.startswith("/"):
        return "it is absolute"
    parts = key.split("/")
    if ".." in parts:
        return "it climbs out of its root with a '..' component"
    if "." in parts:
        return "it has a '.' component"
    if "" in parts:
        return "it has an empty component ('//' or a trailing '/')"
    return None


def safe_prefix(prefix: object, *, field: str) -> str:
    """Like safe_key, but "" (the bucket root) is allowed and one trailing '/' is dropped."""
    if prefix == "":
        return ""
    if isinstance(prefix, str) and prefix.endswith("/") and prefix != "/":
        prefix = prefix[:-1]
    return safe_key(prefix, field=field)


def _deletable_prefix(prefix: object) -> str:
    folder = safe_prefix(prefix, field="prefix")
    if not folder:
        raise UnsafePathError("prefix: refusing to delete the whole bucket (empty prefix)")
    return folder


def join_key(*parts: str) -> str:
    """Join key parts with '/', skipping empty ones."""
    return "/".join(p for p in parts if p)


def escape_glob(text: str) -> str:
    """Escape glob wildcards so `text` matches only itself inside a pattern."""
    return re.sub(r"([*?\[])", r"[\1]", text)


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: bucket-relative key, size in bytes, UTC modification time, version tag."""

    key: str
    size: int
    last_modified: datetime
    etag: str


class Bucket(ABC):
    """A local folder or an S3 bucket/prefix, addressed with bucket-relative keys."""

    @property
    @abstractmethod
    def url(self) -> str:
        """Canonical URL of the bucket root (file:///... or s3://bucket[/prefix])."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Short name: the S3 bucket name, or the local folder's name."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """Local file path or s3:// URI of `key` ("" = the bucket root)."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """Whole content of `key`; FileNotFoundError when missing."""

    def read_text(self, key: str, *, encoding: str = "utf-8") -> str:
        """Content of `key` decoded as text."""
        return self.read_bytes(key).decode(encoding)

    @abstractmethod
    def write_bytes(self, key: str, data: Data, *, content_type: str | None = None) -> None:
        """Write `data` (bytes or an iterable of chunks) to `key`; readers see the old or the new object."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True if an object (not a folder) is stored at `key`."""

    @abstractmethod
    def size(self, key: str) -> int:
        """Size in bytes of `key`; FileNotFoundError when missing."""

    @abstractmethod
    def info(self, key: str) -> ObjectInfo | None:
        """Listing entry of exactly the object `key` (no listing involved), or None when it does not exist."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under the folder `prefix` ("" = whole bucket), recursively, sorted by key."""

    @abstractmethod
    def listdir(self, prefix: str = "") -> tuple[list[str], list[str]]:
        """(sub-folder names, file names) directly inside the folder `prefix`, each sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete the object at `key`; deleting a missing object is a no-op."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under the folder `prefix`; returns how many objects were deleted."""

    @abstractmethod
    def copy_in(self, src_bucket: Bucket, src_key: str, dst_key: str) -> None:
        """Copy `src_key` of `src_bucket` to `dst_key` of this bucket without loading it whole in memory."""

    @abstractmethod
    def open_read(self, key: str) -> IO[bytes]:
        """Binary file-like object for streaming `key`; the caller closes it."""

    @abstractmethod
    def local_path(self, key: str) -> Path | None:
        """Local filesystem path of `key`, or None for remote buckets."""

    @abstractmethod
    def _is_folder(self, key: str) -> bool:
        """True if `key` is a folder (locally a directory, on S3 a prefix with objects under it)."""

    @abstractmethod
    def work_dir(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A private local folder to build what will be published at `key`; removed on exit.

        Locally it sits beside `key` (same filesystem, so publishing is a rename) and is hidden from
        listings; for S3 it is a temporary folder on this machine.
        """

    @abstractmethod
    def publish_file(self, local: Path, key: str) -> None:
        """Put the finished local file `local` at `key` in one step (readers see old or new, never part)."""

    @abstractmethod
    def publish_tree(self, local: Path, prefix: str, *, last: Iterable[str] = ()) -> None:
        """Replace the folder `prefix` by the finished local folder `local`.

        Files named in `last` (relative paths) are stored after all others, and objects under `prefix`
        that `local` does not have are deleted at the end.
        """

    @abstractmethod
    def download_file(self, key: str, local: Path) -> None:
        """Copy the object `key` to the local file `local`, streaming."""

    def glob(self, pattern: str) -> list[str]:
        """Sorted keys of files and folders matching `pattern`; only `**` matches across '/'."""
        pattern = safe_key(pattern, field="glob pattern")
        parts = pattern.split("/")
        first_magic = next((i for i, part in enumerate(parts) if GLOB_MAGIC.search(part)), None)
        if first_magic is None:
            return [pattern] if self.exists(pattern) or self._is_folder(pattern) else []
        base = "/".join(parts[:first_magic])
        rest = parts[first_magic:]
        if "**" in rest:
            return self._glob_recursive(base, rest)
        return self._glob_levels(base, rest)

    def _glob_recursive(self, base: str, rest: list[str]) -> list[str]:
        regex = re.compile(_glob_regex(rest))
        candidates: set[str] = set()
        cut = len(base) + 1 if base else 0
        for info in self.list(base):
            segments = info.key[cut:].split("/")
            for depth in range(1, len(segments) + 1):
                candidates.add("/".join(segments[:depth]))
        return sorted(join_key(base, rel) for rel in candidates if regex.fullmatch(rel))

    def _glob_levels(self, base: str, rest: list[str]) -> list[str]:
        current = [base]
        for index, component in enumerate(rest):
            last = index == len(rest) - 1
            if not GLOB_MAGIC.search(component):
                keys = [join_key(parent, component) for parent in current]
                if last:
                    keys = [k for k in keys if self.exists(k) or self._is_folder(k)]
            else:
                regex = re.compile(_component_regex(component))
                keys = []
                for parent in current:
                    folders, files = self.listdir(parent)
                    names = folders + files if last else folders
                    keys.extend(join_key(parent, name) for name in names if regex.fullmatch(name))
            current = keys
            if not current:
                break
        return sorted(set(current))


def _component_regex(component: str) -> str:
    """Regex for one glob component; nothing in it matches '/'."""
    out: list[str] = []
    i, n = 0, len(component)
    while i < n:
        ch = component[i]
        i += 1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            j = i
            if j < n and component[j] == "!":
                j += 1
            if j < n and component[j] == "]":
                j += 1
            while j < n and component[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(ch))
                continue
            body = component[i:j]
            i = j + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            body = "".join("\\" + c if c in "\\[]^" else c for c in body)
            # The lookahead keeps ranges such as [+-0] from matching '/'.
            out.append(f"(?!/)[^{body}]" if negate else f"(?!/)[{body}]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _glob_regex(components: list[str]) -> str:
    """Regex for a relative multi-component glob in which `**` spans zero or more folders."""
    out: list[str] = []
    for index, component in enumerate(components):
        last = index == len(components) - 1
        if component == "**":
            out.append("[^/]+(?:/[^/]+)*" if last else "(?:[^/]+/)*")
        else:
            out.append(_component_regex(component) + ("" if last else "/"))
    return "".join(out)


def _local_info(key: str, stat: os.stat_result) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=stat.st_size,
        last_modified=datetime.fromtimestamp(stat.st_mtime_ns / 1e9, tz=UTC),
        etag=f"{stat.st_mtime_ns}-{stat.st_size}",
    )


class LocalBucket(Bucket):
    """A folder on the local filesystem used as a bucket."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalBucket({str(self.root)!r})"

    @property
    def url(self) -> str:
        return self.root.as_uri()

    @property
    def name(self) -> str:
        return self.root.name

    def _path(self, key: str, *, field: str = "key") -> Path:
        return self.root.joinpath(*safe_key(key, field=field).split("/"))

    def _folder(self, prefix: str) -> Path:
        prefix = safe_prefix(prefix, field="prefix")
        return self.root.joinpath(*prefix.split("/")) if prefix else self.root

    def uri(self, key: str) -> str:
        return str(self._folder(key))

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def open_read(self, key: str) -> IO[bytes]:
        return self._path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _is_folder(self, key: str) -> bool:
        return self._path(key).is_dir()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        return path.stat().st_size

    def info(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        return None if not path.is_file() else _local_info(key, stat)

    def write_bytes(self, key: str, data: Data, *, content_type: str | None = None) -> None:
        chunks = [bytes(data)] if isinstance(data, bytes | bytearray | memoryview) else data
        self._write_chunks(self._path(key), chunks)

    def _write_chunks(self, path: Path, chunks: Iterable[bytes]) -> None:
        fd, tmp_name = self._make_temp(path)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, 0o644)
            # Bump mtime past the replaced file's so the (mtime, size) etag changes on every write.
            mtime_ns = time.time_ns()
            with contextlib.suppress(FileNotFoundError):
                mtime_ns = max(mtime_ns, path.stat().st_mtime_ns + 1)
            os.utime(tmp_name, ns=(mtime_ns, mtime_ns))
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

    def _make_temp(self, path: Path) -> tuple[int, str]:
        # A concurrent delete may prune the freshly created parent folder; recreate it and retry.
        for _ in range(3):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                return tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.")
            except FileNotFoundError:
                continue
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.")

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        folder = self._folder(prefix)
        if not folder.is_dir():
            return iter(())
        found: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [name for name in dirnames if not name.startswith(TEMP_PREFIX)]
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith(TEMP_PREFIX):
                    continue
                try:
                    stat = os.stat(os.path.join(dirpath, name))
                except FileNotFoundError:
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                found.append(_local_info(key, stat))
        found.sort(key=lambda info: info.key)
        return iter(found)

    def listdir(self, prefix: str = "") -> tuple[list[str], list[str]]:
        folder = self._folder(prefix)
        folders: list[str] = []
        files: list[str] = []
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return [], []
        for entry in entries:
            if entry.name.startswith(TEMP_PREFIX):
                continue
            (folders if entry.is_dir() else files).append(entry.name)
        return sorted(folders), sorted(files)

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        self._prune_empty_parents(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        folder = self._folder(_deletable_prefix(prefix))
        if not folder.is_dir():
            return 0
        count = sum(len(files) for _, _, files in os.walk(folder))
        shutil.rmtree(folder)
        self._prune_empty_parents(folder.parent)
        return count

    def _prune_empty_parents(self, folder: Path) -> None:
        # Empty folders do not exist on S3; removing them keeps glob/listdir alike on both backends.
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    @contextlib.contextmanager
    def work_dir(self, key: str) -> Iterator[Path]:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_work_dirs(target.parent)
        for attempt in range(3):
            # A concurrent delete or work_dir may prune the freshly created parent folder; recreate it.
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)
            # Nothing published leaves no folder behind, as on S3 (e.g. no empty VoxelSpacing folder).
            self._prune_empty_parents(target.parent)

    def publish_file(self, local: Path, key: str) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(local, 0o644)
        os.replace(local, target)

    def publish_tree(self, local: Path, prefix: str, *, last: Iterable[str] = ()) -> None:
        target = self._path(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f"{TEMP_PREFIX}{os.getpid()}-old-"))
            os.replace(target, old / "tree")
        os.replace(local, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def download_file(self, key: str, local: Path) -> None:
        shutil.copyfile(self._path(key), local)

    def copy_in(self, src_bucket: Bucket, src_key: str, dst_key: str) -> None:
        dst = self._path(dst_key, field="destination key")
        with src_bucket.open_read(src_key) as handle:
            self._write_chunks(dst, iter(lambda: handle.read(CHUNK_SIZE), b""))


class S3Bucket(Bucket):
    """An S3 bucket, optionally narrowed to a prefix, reached with boto3."""

    def __init__(
        self,
        bucket_name: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
    ) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket_name or ""):
            raise ValueError(f"S3 bucket name {bucket_name!r} is not valid")
        self.bucket_name = bucket_name
        self.prefix = safe_prefix(prefix, field="S3 bucket prefix")
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Bucket({self.url!r}, endpoint_url={self.endpoint_url!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client, built on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3
                    from botocore.config import Config

                    config = Config(
                        retries={"mode": "standard", "total_max_attempts": 1},
                        s3={"addressing_style": "path"} if self.endpoint_url else None,
                    )
                    session = boto3.session.Session()
                    self._client = session.client(
                        "s3", endpoint_url=self.endpoint_url, region_name=self.region_name, config=config
                    )
        return self._client

    @property
    def url(self) -> str:
        return f"s3://{join_key(self.bucket_name, self.prefix)}"

    @property
    def name(self) -> str:
        return self.bucket_name

    def _full(self, key: str, *, field: str = "key") -> str:
        return join_key(self.prefix, safe_key(key, field=field))

    def _full_folder(self, prefix: str) -> str:
        """Listing prefix (with trailing '/') of folder `prefix`; '' for the root of an unprefixed bucket."""
        folder = join_key(self.prefix, safe_prefix(prefix, field="prefix"))
        return f"{folder}/" if folder else ""

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1 :] if self.prefix else full_key

    def uri(self, key: str) -> str:
        return f"s3://{join_key(self.bucket_name, self.prefix, safe_prefix(key, field='key'))}"

    def local_path(self, key: str) -> Path | None:
        safe_key(key, field="key")
        return None

    def _call(self, operation: str, **kwargs: Any) -> Any:
        return self._retry(lambda: getattr(self.client, operation)(**kwargs))

    def _retry(self, func: Callable[[], T]) -> T:
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        retrying = Retrying(
            retry=retry_if_exception(_is_retryable),
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds, max=10),
            reraise=True,
        )
        return retrying(func)

    def _raise_missing(self, exc: Exception, uri: str) -> None:
        """Raise FileNotFoundError naming `uri` when `exc` says the object or its bucket is missing."""
        code = _error_code(exc)
        if code in MISSING_CODES:
            raise FileNotFoundError(f"{uri}: no such object") from exc
        if code == "NoSuchBucket":
            raise FileNotFoundError(f"{uri}: bucket {self.bucket_name!r} does not exist") from exc

    def _get_object(self, key: str) -> Any:
        from botocore.exceptions import ClientError

        full = self._full(key)
        try:
            return self._call("get_object", Bucket=self.bucket_name, Key=full)
        except ClientError as exc:
            self._raise_missing(exc, f"s3://{self.bucket_name}/{full}")
            raise

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        full = self._full(key)
        try:
            return self._call("head_object", Bucket=self.bucket_name, Key=full)
        except ClientError as exc:
            if _error_code(exc) in MISSING_CODES:
                return None
            self._raise_missing(exc, f"s3://{self.bucket_name}/{full}")
            raise

    def read_bytes(self, key: str) -> bytes:
        body = self._get_object(key)["Body"]
        with body:
            return body.read()

    def open_read(self, key: str) -> IO[bytes]:
        return self._get_object(key)["Body"]

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def info(self, key: str) -> ObjectInfo | None:
        head = self._head(key)
        if head is None:
            return None
        return ObjectInfo(
            key=key,
            size=int(head["ContentLength"]),
            last_modified=head["LastModified"].astimezone(UTC),
            etag=str(head.get("ETag", "")).strip('"'),
        )

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(f"{self.uri(key)}: no such object")
        return int(head["ContentLength"])

    def _is_folder(self, key: str) -> bool:
        response = self._call(
            "list_objects_v2", Bucket=self.bucket_name, Prefix=self._full(key) + "/", MaxKeys=1
        )
        return bool(response.get("KeyCount", 0))

    def write_bytes(self, key: str, data: Data, *, content_type: str | None = None) -> None:
        full = self._full(key)
        body = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else b"".join(data)
        self._call(
            "put_object", Bucket=self.bucket_name, Key=full, Body=body, **_content_args(key, content_type)
        )

    def _pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Bucket=self.bucket_name, **kwargs, **extra)
            yield page
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self._list(self._full_folder(prefix))

    def _list(self, listing_prefix: str) -> Iterator[ObjectInfo]:
        for page in self._pages(Prefix=listing_prefix):
            for item in page.get("Contents", []):
                full = item["Key"]
                if full.endswith("/"):
                    continue
                key = self._relative(full)
                if _unsafe_reason(key):
                    log.warning("skipping S3 object with an unusable key: s3://%s/%s", self.bucket_name, full)
                    continue
                yield ObjectInfo(
                    key=key,
                    size=int(item["Size"]),
                    last_modified=item["LastModified"].astimezone(UTC),
                    etag=str(item.get("ETag", "")).strip('"'),
                )

    def listdir(self, prefix: str = "") -> tuple[list[str], list[str]]:
        listing_prefix = self._full_folder(prefix)
        folders: set[str] = set()
        files: set[str] = set()
        for page in self._pages(Prefix=listing_prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(listing_prefix) :].rstrip("/")
                if name and not _unsafe_reason(name):
                    folders.add(name)
            for item in page.get("Contents", []):
                name = item["Key"][len(listing_prefix) :]
                if name and not _unsafe_reason(name):
                    files.add(name)
        return sorted(folders), sorted(files)

    def delete(self, key: str) -> None:
        self._call("delete_object", Bucket=self.bucket_name, Key=self._full(key))

    def delete_prefix(self, prefix: str) -> int:
        prefix = _deletable_prefix(prefix)
        keys = [
            item["Key"]
            for page in self._pages(Prefix=self._full_folder(prefix))
            for item in page.get("Contents", [])
        ]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            response = self._call(
                "delete_objects", Bucket=self.bucket_name, Delete={"Objects": batch, "Quiet": True}
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise OSError(
                    f"deleting under s3://{self.bucket_name}/{self._full_folder(prefix)} failed for "
                    f"{len(errors)} objects, e.g. {first.get('Key')}: "
                    f"{first.get('Code')} {first.get('Message')}"
                )
        return len(keys)

    @contextlib.contextmanager
    def work_dir(self, key: str) -> Iterator[Path]:
        self._full(key)
        _remove_abandoned_work_dirs(Path(tempfile.gettempdir()))
        with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as work:
            yield Path(work)

    def publish_file(self, local: Path, key: str) -> None:
        full = self._full(key)
        self._retry(
            lambda: self.client.upload_file(str(local), self.bucket_name, full, ExtraArgs=_content_args(key, None))
        )

    def publish_tree(self, local: Path, prefix: str, *, last: Iterable[str] = ()) -> None:
        from concurrent.futures import ThreadPoolExecutor

        prefix = _deletable_prefix(prefix)
        last = {posixpath.normpath(name) for name in last}
        names = sorted(path.relative_to(local).as_posix() for path in local.rglob("*") if path.is_file())
        first = [name for name in names if name not in last]
        stale = {info.key for info in self.list(prefix)} - {f"{prefix}/{name}" for name in names}
        with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
            for batch in (first, [name for name in names if name in last]):
                list(pool.map(lambda name: self.publish_file(local / name, f"{prefix}/{name}"), batch))
        for key in sorted(stale):
            self.delete(key)

    def download_file(self, key: str, local: Path) -> None:
        from botocore.exceptions import ClientError

        full = self._full(key)
        try:
            self._retry(lambda: self.client.download_file(self.bucket_name, full, str(local)))
        except ClientError as exc:
            self._raise_missing(exc, f"s3://{self.bucket_name}/{full}")
            raise

    def copy_in(self, src_bucket: Bucket, src_key: str, dst_key: str) -> None:
        from botocore.exceptions import ClientError

        dst_full = self._full(dst_key, field="destination key")
        if isinstance(src_bucket, S3Bucket) and src_bucket.endpoint_url == self.endpoint_url:
            src_full = src_bucket._full(src_key, field="source key")
            try:
                self._retry(
                    lambda: self.client.copy(
                        {"Bucket": src_bucket.bucket_name, "Key": src_full}, self.bucket_name, dst_full
                    )
                )
            except ClientError as exc:
                src_bucket._raise_missing(exc, f"s3://{src_bucket.bucket_name}/{src_full}")
                raise
            return

        def upload() -> None:
            with src_bucket.open_read(src_key) as handle:
                self.client.upload_fileobj(
                    handle, self.bucket_name, dst_full, ExtraArgs=_content_args(dst_key, None)
                )

        self._retry(upload)


def _remove_abandoned_work_dirs(folder: Path) -> None:
    """Delete work folders left in `folder` by processes that no longer run (e.g. killed mid-write)."""
    for path in folder.glob(f"{TEMP_PREFIX}*-*"):
        pid = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if path.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _content_args(key: str, content_type: str | None) -> dict[str, str]:
    content_type = content_type or CONTENT_TYPES.get(posixpath.splitext(key)[1].lower())
    return {"ContentType": content_type} if content_type else {}


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def _is_retryable(exc: BaseException) -> bool:
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

    if isinstance(exc, S3UploadFailedError) and exc.__context__ is not None:
        # boto3's upload_file reports a failed request (e.g. SlowDown) as this, raised while handling it.
        return _is_retryable(exc.__context__)
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return _error_code(exc) in THROTTLE_CODES or status == 503
    return False


def open_bucket(url: str, *, endpoint_url: str | None = None, region_name: str | None = None) -> Bucket:
    """Open `file:///abs/dir`, a plain local path, or `s3://bucket[/prefix]` as a Bucket."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"bucket URL {url!r} must be a non-empty string")
    if url.startswith("s3://"):
        rest = url[len("s3://") :]
        name, _, prefix = rest.partition("/")
        if not name:
            raise ValueError(f"bucket URL {url!r} names no bucket")
        try:
            return S3Bucket(name, prefix, endpoint_url=endpoint_url, region_name=region_name)
        except ValueError as exc:
            raise ValueError(f"bucket URL {url!r}: {exc}") from exc
    if url.startswith("file://"):
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"bucket URL {url!r}: file URLs must be local (file:///abs/dir)")
        path = unquote(parsed.path)
        if not path.startswith("/"):
            raise ValueError(f"bucket URL {url!r}: file URLs need an absolute path")
        return LocalBucket(path)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", url):
        raise ValueError(f"bucket URL {url!r}: only file:// and s3:// URLs or plain paths are supported")
    return LocalBucket(url)


def overlap_problem(buckets: Mapping[str, Bucket]) -> str:
    """Why two of `buckets` (by role: "deposit", "staging", ...) cannot both be used, or "".

    Two buckets overlap when one's root is the other's or lies inside it, compared by their canonical URLs
    (`Bucket.url`: a local folder's resolved path, an S3 bucket and prefix). Writing to one would then change
    the other: standardized outputs among a lab's raw files, or a promotion copying production into itself.
    """
    roles = list(buckets)
    for index, first in enumerate(roles):
        for second in roles[index + 1:]:
            a, b = buckets[first].url.rstrip("/"), buckets[second].url.rstrip("/")
            if a == b:
                return f"the {second} bucket is the {first} bucket ({a})"
            if a.startswith(f"{b}/"):
                return f"the {first} bucket ({a}) lies inside the {second} bucket ({b})"
            if b.startswith(f"{a}/"):
                return f"the {second} bucket ({b}) lies inside the {first} bucket ({a})"
    return ""
