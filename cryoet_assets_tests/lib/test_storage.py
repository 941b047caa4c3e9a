from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cryoet_assets.lib.storage import (
    Bucket,
    LocalBucket,
    S3Bucket,
    UnsafePathError,
    escape_glob,
    open_bucket,
    safe_key,
)

BucketFactory = Callable[[], Bucket]

TREE = {
    "runs/TS_01/TS_01.mrc": b"tomogram 1",
    "runs/TS_01/TS_01.rawtlt": b"-60\n0\n60\n",
    "runs/TS_01/AreTomo/TS_01.xf": b"1 0 0 1 0 0\n",
    "runs/TS_01.bak": b"backup",
    "runs/TS_02/TS_02.mrc": b"tomogram 2",
    "runs/TS_10/sub/deep/TS_10.mrc": b"tomogram 10",
    "runs/notes.txt": b"notes",
    "top.mrc": b"top",
}


@pytest.fixture(params=["local", "s3", "s3-prefixed"])
def make_bucket(request: pytest.FixtureRequest, tmp_path: Path) -> BucketFactory:
    """Factory of fresh empty buckets of the parametrized backend."""
    counter = iter(range(1000))
    factory = request.getfixturevalue("s3_bucket_url") if request.param != "local" else None

    def make() -> Bucket:
        if factory is None:
            return open_bucket(f"file://{tmp_path}/bucket{next(counter)}")
        url, endpoint = factory("deposits/2024" if request.param == "s3-prefixed" else "")
        return open_bucket(url, endpoint_url=endpoint)

    return make


@pytest.fixture
def bucket(make_bucket: BucketFactory) -> Bucket:
    return make_bucket()


@pytest.fixture
def tree(bucket: Bucket) -> Bucket:
    for key, data in TREE.items():
        bucket.write_bytes(key, data)
    return bucket


@pytest.fixture(scope="module", params=["local", "s3", "s3-prefixed"])
def shared_tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Bucket:
    """TREE written once per backend, for read-only tests."""
    if request.param == "local":
        bucket = open_bucket(str(tmp_path_factory.mktemp("shared-tree")))
    else:
        url, endpoint = request.getfixturevalue("s3_bucket_url")(
            "a/b" if request.param == "s3-prefixed" else ""
        )
        bucket = open_bucket(url, endpoint_url=endpoint)
    for key, data in TREE.items():
        bucket.write_bytes(key, data)
    return bucket


def test_write_read_roundtrip(bucket: Bucket) -> None:
    bucket.write_bytes("a/b/c.bin", b"\x00\x01binary")
    bucket.write_bytes("a/text.json", '{"é": 1}'.encode())
    bucket.write_bytes("a/chunks.bin", iter([b"one-", b"two-", b"three"]))

    assert bucket.read_bytes("a/b/c.bin") == b"\x00\x01binary"
    assert bucket.read_text("a/text.json") == '{"é": 1}'
    assert bucket.read_bytes("a/chunks.bin") == b"one-two-three"
    assert bucket.size("a/chunks.bin") == 13
    assert bucket.exists("a/b/c.bin")
    assert not bucket.exists("a/b")  # a folder is not an object
    assert not bucket.exists("a/missing")
    with bucket.open_read("a/chunks.bin") as handle:
        assert handle.read(4) == b"one-"
        assert handle.read() == b"two-three"


def test_overwrite_replaces_content(bucket: Bucket) -> None:
    bucket.write_bytes("k.txt", b"first version")
    bucket.write_bytes("k.txt", b"v2")
    assert bucket.read_bytes("k.txt") == b"v2"
    assert bucket.size("k.txt") == 2
    assert [info.key for info in bucket.list()] == ["k.txt"]


def test_missing_keys_raise_file_not_found_naming_the_uri(bucket: Bucket) -> None:
    for action in (bucket.read_bytes, bucket.size, bucket.open_read, bucket.read_text):
        with pytest.raises(FileNotFoundError) as info:
            action("no/such.file")
        assert bucket.uri("no/such.file") in str(info.value)


def test_uri_url_and_local_path(bucket: Bucket) -> None:
    if isinstance(bucket, LocalBucket):
        assert bucket.url == bucket.root.as_uri()
        assert bucket.name == bucket.root.name
        assert bucket.uri("x/y.mrc") == str(bucket.root / "x" / "y.mrc")
        assert bucket.uri("") == str(bucket.root)
        assert bucket.local_path("x/y.mrc") == bucket.root / "x" / "y.mrc"
    else:
        assert isinstance(bucket, S3Bucket)
        assert bucket.name == bucket.bucket_name
        assert bucket.url.startswith(f"s3://{bucket.bucket_name}")
        assert bucket.uri("x/y.mrc") == f"{bucket.url}/x/y.mrc"
        assert bucket.uri("") == bucket.url
        assert bucket.local_path("x/y.mrc") is None


def test_list_is_recursive_sorted_and_scoped(shared_tree: Bucket) -> None:
    tree = shared_tree
    before = datetime.now(UTC) - timedelta(minutes=5)
    infos = list(tree.list())
    assert [info.key for info in infos] == sorted(TREE)
    for info in infos:
        assert info.size == len(TREE[info.key])
        assert info.last_modified.tzinfo is not None
        assert info.last_modified.utcoffset() == timedelta(0)
        assert before < info.last_modified < datetime.now(UTC) + timedelta(minutes=5)
        assert info.etag
    assert [info.key for info in tree.list("runs/TS_01")] == [
        "runs/TS_01/AreTomo/TS_01.xf",
        "runs/TS_01/TS_01.mrc",
        "runs/TS_01/TS_01.rawtlt",
    ]
    assert [info.key for info in tree.list("runs/TS_01/")] == [info.key for info in tree.list("runs/TS_01")]
    # A prefix is a folder: "runs/TS_0" must not pick up runs/TS_01/...
    assert list(tree.list("runs/TS_0")) == []
    assert list(tree.list("nothing/here")) == []


def test_listing_after_several_writes_in_the_same_second(bucket: Bucket) -> None:
    etags = []
    for version in range(4):
        bucket.write_bytes("state/manifest.json", f'{{"v": {version}}}'.encode())  # same size every time
        (info,) = list(bucket.list("state"))
        assert info.key == "state/manifest.json"
        assert info.size == len(b'{"v": 0}')
        etags.append(info.etag)
    assert len(set(etags)) == 4, etags
    for index in range(5):
        bucket.write_bytes(f"state/part-{index}.json", b"{}")
    keys = [info.key for info in bucket.list("state")]
    assert keys == ["state/manifest.json"] + [f"state/part-{i}.json" for i in range(5)]
    assert bucket.read_bytes("state/manifest.json") == b'{"v": 3}'


def test_listdir(shared_tree: Bucket) -> None:
    tree = shared_tree
    assert tree.listdir("") == (["runs"], ["top.mrc"])
    assert tree.listdir("runs") == (["TS_01", "TS_02", "TS_10"], ["TS_01.bak", "notes.txt"])
    assert tree.listdir("runs/") == tree.listdir("runs")
    assert tree.listdir("runs/TS_01") == (["AreTomo"], ["TS_01.mrc", "TS_01.rawtlt"])
    assert tree.listdir("runs/missing") == ([], [])


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("runs/*", ["runs/TS_01", "runs/TS_01.bak", "runs/TS_02", "runs/TS_10", "runs/notes.txt"]),
        ("runs/TS_0?", ["runs/TS_01", "runs/TS_02"]),
        ("runs/TS_[0-1]1", ["runs/TS_01"]),
        ("runs/TS_[!0]*", ["runs/TS_10"]),
        ("runs/TS_01*", ["runs/TS_01", "runs/TS_01.bak"]),
        ("*.mrc", ["top.mrc"]),
        ("runs/*.mrc", []),
        ("runs/*/*.mrc", ["runs/TS_01/TS_01.mrc", "runs/TS_02/TS_02.mrc"]),
        ("runs/*/AreTomo/*.xf", ["runs/TS_01/AreTomo/TS_01.xf"]),
        ("*/*/TS_0?.*", ["runs/TS_01/TS_01.mrc", "runs/TS_01/TS_01.rawtlt", "runs/TS_02/TS_02.mrc"]),
        ("runs/**/*.mrc", ["runs/TS_01/TS_01.mrc", "runs/TS_02/TS_02.mrc", "runs/TS_10/sub/deep/TS_10.mrc"]),
        (
            "**/*.mrc",
            ["runs/TS_01/TS_01.mrc", "runs/TS_02/TS_02.mrc", "runs/TS_10/sub/deep/TS_10.mrc", "top.mrc"],
        ),
        ("runs/**/deep", ["runs/TS_10/sub/deep"]),
        ("runs/TS_10/**", ["runs/TS_10/sub", "runs/TS_10/sub/deep", "runs/TS_10/sub/deep/TS_10.mrc"]),
        ("**/AreTomo", ["runs/TS_01/AreTomo"]),
        ("**/AreTomo*", ["runs/TS_01/AreTomo"]),
        ("**/TS_10?sub", []),
        ("**/TS_10[!x]sub", []),
        ("**/TS_01[+-0]TS_01.mrc", []),  # the range +-0 spans '/' but must not match it
        ("runs/TS_0[!]2]", ["runs/TS_01"]),
        ("runs/TS_01/TS_01.mrc", ["runs/TS_01/TS_01.mrc"]),
        ("runs/TS_01", ["runs/TS_01"]),
        ("runs/TS_0", []),
        ("runs/nope.txt", []),
        ("runs?TS_01", []),
        ("runs[!x]TS_01", []),
        ("runs*", ["runs"]),
        ("nothing/*", []),
    ],
)
def test_glob(shared_tree: Bucket, pattern: str, expected: list[str]) -> None:
    assert shared_tree.glob(pattern) == expected


def test_glob_escaped_brackets_match_literally(bucket: Bucket) -> None:
    bucket.write_bytes("odd[1]/a.txt", b"1")
    bucket.write_bytes("odd1/a.txt", b"2")
    assert bucket.glob("odd[1]/*") == ["odd1/a.txt"]
    assert bucket.glob(escape_glob("odd[1]") + "/*") == ["odd[1]/a.txt"]


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("../outside", "'..'"),
        ("a/../../b", "'..'"),
        ("a/..", "'..'"),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL"),
        ("a//b", "empty component"),
        ("a/b/", "empty component"),
        ("./a", "'.'"),
    ],
)
def test_safe_key_rejections(key: str, reason: str) -> None:
    with pytest.raises(UnsafePathError) as info:
        safe_key(key, field="runs[0].source_glob.list_glob")
    message = str(info.value)
    assert "runs[0].source_glob.list_glob" in message
    assert repr(key) in message
    assert reason in message


@pytest.mark.parametrize("key", ["a", "a/b.c", "[x]/y", "TS_01/.hidden", "a..b/c"])
def test_safe_key_accepts(key: str) -> None:
    assert safe_key(key, field="key") == key


def test_unsafe_paths_are_refused_by_every_operation(bucket: Bucket, tmp_path: Path) -> None:
    escapes = ["../escape.txt", "/tmp/escape.txt", "a/../../escape.txt"]
    for key in escapes:
        with pytest.raises(UnsafePathError):
            bucket.write_bytes(key, b"x")
        for action in (
            bucket.read_bytes,
            bucket.exists,
            bucket.size,
            bucket.delete,
            bucket.uri,
            bucket.open_read,
        ):
            with pytest.raises(UnsafePathError):
                action(key)
    for prefix in ["..", "../", "/etc", "a/../.."]:
        with pytest.raises(UnsafePathError):
            bucket.list(prefix)  # refused when called, not on first iteration
        with pytest.raises(UnsafePathError):
            bucket.listdir(prefix)
        with pytest.raises(UnsafePathError):
            bucket.delete_prefix(prefix)
    for pattern in ["../*", "/etc/*", "a/../../*", "a//*"]:
        with pytest.raises(UnsafePathError):
            bucket.glob(pattern)
    with pytest.raises(UnsafePathError, match="whole bucket"):
        bucket.delete_prefix("")
    assert list(bucket.list()) == []
    assert not (tmp_path / "escape.txt").exists()


def _failing_chunks(seen: list[object], bucket: Bucket) -> Iterator[bytes]:
    yield b"partial data "
    # Mid-write, a reader must see neither the new object nor a temp file.
    seen.append([info.key for info in bucket.list()])
    seen.append(bucket.listdir("out"))
    seen.append(bucket.glob("**"))
    raise RuntimeError("producer crashed")


def test_write_is_atomic_when_the_producer_crashes(bucket: Bucket) -> None:
    seen: list[object] = []
    with pytest.raises(RuntimeError, match="producer crashed"):
        bucket.write_bytes("out/new.mrc", _failing_chunks(seen, bucket))
    assert not bucket.exists("out/new.mrc")
    assert seen == [[], ([], []), []]
    assert list(bucket.list()) == []

    bucket.write_bytes("out/kept.mrc", b"old content")
    seen.clear()
    with pytest.raises(RuntimeError):
        bucket.write_bytes("out/kept.mrc", _failing_chunks(seen, bucket))
    assert bucket.read_bytes("out/kept.mrc") == b"old content"
    assert seen == [["out/kept.mrc"], ([], ["kept.mrc"]), ["out", "out/kept.mrc"]]
    if isinstance(bucket, LocalBucket):
        assert os.listdir(bucket.root / "out") == ["kept.mrc"]


def test_local_files_are_readable_by_others(tmp_path: Path) -> None:
    bucket = open_bucket(str(tmp_path))
    bucket.write_bytes("a.json", b"{}")
    assert (tmp_path / "a.json").stat().st_mode & 0o044 == 0o044


def test_delete_and_delete_prefix(tree: Bucket) -> None:
    tree.delete("runs/notes.txt")
    assert not tree.exists("runs/notes.txt")
    tree.delete("runs/notes.txt")  # deleting a missing object is a no-op

    assert tree.delete_prefix("runs/TS_10") == 1
    assert tree.glob("runs/TS_1*") == []  # no empty folder left behind on any backend
    assert tree.glob("runs/*") == ["runs/TS_01", "runs/TS_01.bak", "runs/TS_02"]

    assert tree.delete_prefix("runs/TS_01/") == 3
    assert tree.exists("runs/TS_01.bak")  # a sibling sharing the name prefix survives
    assert tree.delete_prefix("runs/absent") == 0
    assert [info.key for info in tree.list()] == ["runs/TS_01.bak", "runs/TS_02/TS_02.mrc", "top.mrc"]


@pytest.mark.parametrize("source_kind", ["local", "s3"])
def test_copy_in_across_backends(
    bucket: Bucket, source_kind: str, tmp_path: Path, s3_bucket_url: Callable[..., tuple[str, str]]
) -> None:
    if source_kind == "local":
        source = open_bucket(str(tmp_path / "copy-source"))
    else:
        url, endpoint = s3_bucket_url("src/prefix")
        source = open_bucket(url, endpoint_url=endpoint)
    payload = os.urandom(3 * 1024 * 1024 + 17)
    source.write_bytes("in/tomo.mrc", payload)
    source.write_bytes("in/meta.json", b'{"a": 1}')

    bucket.copy_in(source, "in/tomo.mrc", "copied/tomo.mrc")
    bucket.copy_in(source, "in/meta.json", "copied/meta.json")
    assert bucket.read_bytes("copied/tomo.mrc") == payload
    assert bucket.read_bytes("copied/meta.json") == b'{"a": 1}'
    assert source.read_bytes("in/tomo.mrc") == payload

    with pytest.raises(FileNotFoundError) as info:
        bucket.copy_in(source, "in/missing.mrc", "copied/missing.mrc")
    assert source.uri("in/missing.mrc") in str(info.value)
    assert not bucket.exists("copied/missing.mrc")
    with pytest.raises(UnsafePathError):
        bucket.copy_in(source, "in/tomo.mrc", "../escape.mrc")


def test_open_bucket_parses_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = open_bucket(f"file://{tmp_path}/dir")
    assert isinstance(local, LocalBucket)
    assert local.root == tmp_path / "dir"
    assert open_bucket(str(tmp_path)).url == tmp_path.as_uri()
    monkeypatch.chdir(tmp_path)
    assert open_bucket("relative/dir").root == tmp_path / "relative" / "dir"

    s3 = open_bucket(
        "s3://my-bucket/some/prefix/", endpoint_url="http://127.0.0.1:1", region_name="us-west-2"
    )
    assert isinstance(s3, S3Bucket)
    assert (s3.bucket_name, s3.prefix, s3.endpoint_url, s3.region_name) == (
        "my-bucket",
        "some/prefix",
        "http://127.0.0.1:1",
        "us-west-2",
    )
    assert s3.url == "s3://my-bucket/some/prefix"
    assert open_bucket("s3://my-bucket").url == "s3://my-bucket"
    restored = pickle.loads(pickle.dumps(s3))
    assert restored.url == s3.url and restored.endpoint_url == s3.endpoint_url

    for bad in [
        "",
        "s3://",
        "s3:///x",
        "s3://Bad_Name/x",
        "s3://bucket/../x",
        "http://host/x",
        "file://host/x",
    ]:
        with pytest.raises(ValueError):
            open_bucket(bad)


def test_s3_write_sets_content_type(s3_bucket_url: Callable[..., tuple[str, str]]) -> None:
    url, endpoint = s3_bucket_url("p")
    bucket = open_bucket(url, endpoint_url=endpoint)
    assert isinstance(bucket, S3Bucket)
    bucket.write_bytes("doc.json", b"{}")
    bucket.write_bytes("blob", b"x", content_type="application/x-mrc")
    head = bucket.client.head_object(Bucket=bucket.bucket_name, Key="p/doc.json")
    assert head["ContentType"] == "application/json"
    head = bucket.client.head_object(Bucket=bucket.bucket_name, Key="p/blob")
    assert head["ContentType"] == "application/x-mrc"
    bucket.write_bytes("tomo.mrc", b"x")
    head = bucket.client.head_object(Bucket=bucket.bucket_name, Key="p/tomo.mrc")
    assert head["ContentType"] == "binary/octet-stream"  # S3's default, not a guess


def test_s3_paging_folder_markers_and_batched_delete(s3_bucket_url: Callable[..., tuple[str, str]]) -> None:
    url, endpoint = s3_bucket_url("pre")
    bucket = open_bucket(url, endpoint_url=endpoint)
    assert isinstance(bucket, S3Bucket)
    client, name = bucket.client, bucket.bucket_name
    client.put_object(Bucket=name, Key="pre/many/", Body=b"")  # a console-made folder marker
    client.put_object(Bucket=name, Key="pre/many//double", Body=b"")  # not addressable as a key
    client.put_object(Bucket=name, Key="pre/many-sibling", Body=b"")
    # More keys than one listing page holds (1000). They are stored by the session's moto server itself, which
    # runs in this process (conftest's `s3_endpoint_url`): what a PutObject request stores, without 1003
    # requests (about 10 s of CPU); the listings and deletes under test still go over HTTP.
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    for i in range(1003):
        s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(name, f"pre/many/f{i:04d}", b"x")
    assert client.head_object(Bucket=name, Key="pre/many/f1002")["ContentLength"] == 1

    keys = [info.key for info in bucket.list("many")]
    assert len(keys) == 1003 and keys[0] == "many/f0000" and keys[-1] == "many/f1002"
    folders, files = bucket.listdir("many")
    assert folders == [] and len(files) == 1003
    assert bucket.listdir("") == (["many"], ["many-sibling"])
    assert len(bucket.glob("many/f*")) == 1003
    assert bucket.delete_prefix("many") == 1005  # markers and odd keys under the folder go too
    assert [info.key for info in bucket.list()] == ["many-sibling"]


def test_s3_missing_bucket_names_the_uri(s3_endpoint_url: str) -> None:
    bucket = open_bucket("s3://no-such-bucket-here/p", endpoint_url=s3_endpoint_url)
    with pytest.raises(FileNotFoundError, match="s3://no-such-bucket-here/p/k"):
        bucket.read_bytes("k")


def _throttled_bucket(s3_bucket_url: Callable[..., tuple[str, str]]) -> S3Bucket:
    url, endpoint = s3_bucket_url()
    name = url.removeprefix("s3://")
    return S3Bucket(name, endpoint_url=endpoint, region_name="us-east-1", backoff_seconds=0.01)


def test_s3_retries_throttling_then_succeeds(s3_bucket_url: Callable[..., tuple[str, str]]) -> None:
    # moto cannot throttle, so botocore's own response stubber plays the SlowDown replies.
    from botocore.stub import Stubber

    bucket = _throttled_bucket(s3_bucket_url)
    with Stubber(bucket.client) as stub:
        stub.add_client_error("head_object", service_error_code="SlowDown", http_status_code=503)
        stub.add_client_error("head_object", service_error_code="ServiceUnavailable", http_status_code=503)
        stub.add_response("head_object", {"ContentLength": 42})
        assert bucket.size("k") == 42
        stub.assert_no_pending_responses()


def test_s3_retries_are_bounded(s3_bucket_url: Callable[..., tuple[str, str]]) -> None:
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber

    bucket = _throttled_bucket(s3_bucket_url)
    with Stubber(bucket.client) as stub:
        for _ in range(5):
            stub.add_client_error("get_object", service_error_code="SlowDown", http_status_code=503)
        with pytest.raises(ClientError, match="SlowDown"):
            bucket.read_bytes("k")
        stub.assert_no_pending_responses()
        stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(ClientError, match="AccessDenied"):
            bucket.read_bytes("k")  # not retried: a single queued reply is enough
        stub.assert_no_pending_responses()


def test_s3_upload_retries_throttling(s3_bucket_url: Callable[..., tuple[str, str]], tmp_path: Path) -> None:
    from botocore.stub import Stubber

    source = open_bucket(str(tmp_path))
    source.write_bytes("in.mrc", b"payload")
    bucket = _throttled_bucket(s3_bucket_url)
    with Stubber(bucket.client) as stub:
        stub.add_client_error("put_object", service_error_code="SlowDown", http_status_code=503)
        stub.add_response("put_object", {})
        bucket.copy_in(source, "in.mrc", "out.mrc")
        stub.assert_no_pending_responses()


def _local_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_work_dir_is_private_and_removed(bucket: Bucket) -> None:
    with bucket.work_dir("out/thing") as work:
        (work / "partial.bin").write_bytes(b"half")
        assert work.is_dir()
        assert list(bucket.list("")) == []
    assert not work.exists()


def test_a_work_dir_that_published_nothing_leaves_no_folder(bucket: Bucket) -> None:
    bucket.write_bytes("run/run_metadata.json", b"{}")
    with pytest.raises(ValueError, match="conversion failed"):
        with bucket.work_dir("run/Reconstructions/VoxelSpacing20.000/Tomograms/100") as work:
            (work / "half.mrc").write_bytes(b"half")
            raise ValueError("conversion failed")
    assert bucket.listdir("run") == ([], ["run_metadata.json"])
    with bucket.work_dir("run/Reconstructions/VoxelSpacing10.000/Tomograms/100") as work:
        (work / "v.mrc").write_bytes(b"MRC")
        bucket.publish_file(work / "v.mrc", "run/Reconstructions/VoxelSpacing10.000/Tomograms/100/v.mrc")
    assert bucket.listdir("run/Reconstructions") == (["VoxelSpacing10.000"], [])


def test_publish_file_and_tree_replace_what_was_there(bucket: Bucket) -> None:
    bucket.write_bytes("t/v.zarr/0/0/0/0", b"old chunk")
    bucket.write_bytes("t/v.zarr/0/1/0/0", b"stale chunk")
    bucket.write_bytes("t/v.zarr/.zattrs", b"{}")
    with bucket.work_dir("t") as work:
        _local_tree(work / "v.zarr", {".zattrs": b'{"new": 1}', ".zgroup": b"{}", "0/0/0/0": b"new chunk"})
        (work / "v.mrc").write_bytes(b"MRC")
        bucket.publish_tree(work / "v.zarr", "t/v.zarr", last=[".zattrs", ".zgroup"])
        bucket.publish_file(work / "v.mrc", "t/v.mrc")
    assert {info.key: bucket.read_bytes(info.key) for info in bucket.list("t")} == {
        "t/v.mrc": b"MRC",
        "t/v.zarr/.zattrs": b'{"new": 1}',
        "t/v.zarr/.zgroup": b"{}",
        "t/v.zarr/0/0/0/0": b"new chunk",
    }


def test_download_file_streams_an_object(bucket: Bucket, tmp_path: Path) -> None:
    bucket.write_bytes("a/b.bin", b"x" * 100_000)
    bucket.download_file("a/b.bin", tmp_path / "b.bin")
    assert (tmp_path / "b.bin").read_bytes() == b"x" * 100_000
    with pytest.raises(FileNotFoundError, match="a/missing"):
        bucket.download_file("a/missing", tmp_path / "c.bin")


def test_work_dirs_of_dead_processes_are_cleaned_up(tmp_path: Path) -> None:
    import subprocess
    import sys

    bucket = open_bucket(str(tmp_path))
    code = (
        "import os, sys; from cryoet_assets.lib.storage import open_bucket\n"
        "with open_bucket(sys.argv[1]).work_dir('x/y') as w:\n"
        "    (w / 'f').write_bytes(b'1'); print(w, flush=True); os._exit(0)\n"
    )
    leftover = Path(subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                                   check=True).stdout.strip())
    assert leftover.is_dir() and list(bucket.list("")) == []
    with bucket.work_dir("x/z"):
        pass
    assert not leftover.exists()


def test_s3_work_dirs_of_dead_processes_are_cleaned_up(tmp_path: Path, s3_bucket_url, monkeypatch) -> None:
    import subprocess
    import sys
    import tempfile

    url, endpoint = s3_bucket_url()
    temp = tmp_path / "tmp"
    temp.mkdir()
    code = (
        "import os, sys; from cryoet_assets.lib.storage import open_bucket\n"
        "with open_bucket(sys.argv[1], endpoint_url=sys.argv[2]).work_dir('x/y') as w:\n"
        "    (w / 'f').write_bytes(b'1'); print(w, flush=True); os._exit(0)\n"
    )
    killed = subprocess.run([sys.executable, "-c", code, url, endpoint], capture_output=True, text=True, check=True,
                            env={**os.environ, "TMPDIR": str(temp)})
    leftover = Path(killed.stdout.strip())
    assert leftover.parent == temp and leftover.is_dir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with open_bucket(url, endpoint_url=endpoint).work_dir("x/z") as work:
        assert work.parent == temp
    assert list(temp.iterdir()) == []
