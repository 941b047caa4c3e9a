"""Promotion of a partition's objects from a staging to a production bucket, on local folders and on moto S3
reached through a fault-injecting proxy."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from s3_faults import FaultProxy, Request, Response, is_copy_object, is_list

from cryoet_assets.lib.keys import UnsafeNameError
from cryoet_assets.lib.promotion.objects import (
    ContentChangedError,
    ObjectPlan,
    Scope,
    VerificationError,
    is_metadata_document,
    partition_scope,
    plan_objects,
    promote_objects,
)
from cryoet_assets.lib.storage import Bucket, LocalBucket, ObjectInfo, S3Bucket, UnsafePathError

MiB = 1024 * 1024
VS = "10001/TS_01/Reconstructions/VoxelSpacing10.012"
MRC = f"{VS}/Tomograms/100/TS_01.mrc"
TOMOGRAM_DOC = f"{VS}/Tomograms/100/tomogram_metadata.json"
NEUROGLANCER_DOC = f"{VS}/NeuroglancerPrecompute/100-neuroglancer_config.json"
RUN_DOC = "10001/TS_01/run_metadata.json"
STAGING_BOOKKEEPING = "10001/TS_01/_cryoet_assets/manifest.json"
TREE = {
    "10001/dataset_metadata.json": b'{"dataset": 10001}',
    "10001/Images/snapshot.png": b"dataset snapshot",
    RUN_DOC: b'{"run": "TS_01"}',
    TOMOGRAM_DOC: b'{"tomogram": 100}',
    NEUROGLANCER_DOC: b'{"layers": []}',
    MRC: b"mrc-" * 16,
    f"{VS}/Tomograms/100/TS_01.zarr/.zattrs": b'{"multiscales": []}',
    f"{VS}/Tomograms/100/TS_01.zarr/zarr.json": b'{"zarr_format": 3}',
    f"{VS}/Tomograms/100/TS_01.zarr/0/0.0.0": bytes(range(64)),
    f"{VS}/Images/100/key-photo-snapshot.png": b"key photo",
    STAGING_BOOKKEEPING: b"{}",
    "10001/TS_01/.cryoet-tmp-TS_01.mrc.abc": b"half written",
    "10001/TS_02/run_metadata.json": b'{"run": "TS_02"}',
    "_cryoet_assets/tomograms/10001__TS_01.json": b"{}",
}
RUN_OBJECTS = sorted(
    key
    for key in TREE
    if key.startswith("10001/TS_01/") and "_cryoet_assets" not in key and ".cryoet-tmp" not in key
)
RUN_DOCUMENTS = [TOMOGRAM_DOC, NEUROGLANCER_DOC, RUN_DOC]
RUN_DATA = [key for key in RUN_OBJECTS if key not in RUN_DOCUMENTS]
PAIRS = [("local", "local"), ("s3", "s3"), ("local", "s3"), ("s3", "local")]


@pytest.fixture(scope="module")
def proxy(s3_endpoint_url: str):
    with FaultProxy(s3_endpoint_url) as proxy:
        yield proxy


@pytest.fixture
def faults(proxy: FaultProxy):
    """The proxy with no rule, count or logged request left from another test."""
    proxy.clear()
    yield proxy
    proxy.clear()


@pytest.fixture
def make_bucket(tmp_path: Path, s3_bucket_url, faults: FaultProxy) -> Callable[..., Bucket]:
    """Factory: a fresh empty local folder, or a fresh S3 bucket reached through the fault proxy."""
    counter = itertools.count()

    def make(kind: str, prefix: str = "") -> Bucket:
        if kind == "local":
            return LocalBucket(tmp_path / f"bucket{next(counter)}")
        url, _ = s3_bucket_url(prefix)
        name, _, bucket_prefix = url.removeprefix("s3://").partition("/")
        return S3Bucket(name, bucket_prefix, endpoint_url=faults.url, backoff_seconds=0.01)

    return make


@pytest.fixture(params=PAIRS, ids=["->".join(pair) for pair in PAIRS])
def buckets(request: pytest.FixtureRequest, make_bucket) -> tuple[Bucket, Bucket]:
    """(staging holding TREE, empty production) of the parametrized kinds; S3 staging has a prefix."""
    staging_kind, production_kind = request.param
    staging = make_bucket(staging_kind, "portal")
    write(staging, TREE)
    return staging, make_bucket(production_kind)


def write(bucket: Bucket, tree: dict[str, bytes]) -> None:
    for key, data in tree.items():
        bucket.write_bytes(key, data)


def keys(bucket: Bucket, prefix: str = "") -> list[str]:
    return [info.key for info in bucket.list(prefix)]


def read_unchecked(bucket: S3Bucket, key: str) -> bytes:
    """Content of `key`, without botocore's response checksum validation: moto gives a CopyObject copy of a
    multipart object its source's composite CRC32 as if it were the whole object's, which botocore refuses."""
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=bucket.endpoint_url,
                          config=Config(response_checksum_validation="when_required"))
    return client.get_object(Bucket=bucket.bucket_name, Key=bucket._full(key))["Body"].read()


def run_scope() -> Scope:
    return partition_scope("acquisition_run", "10001__TS_01")


def test_promotion_copies_the_scope_once_then_nothing_then_only_what_changed(buckets) -> None:
    staging, production = buckets
    plan = plan_objects(staging, production, run_scope())

    assert [info.key for info in plan.copy] == RUN_DATA + RUN_DOCUMENTS
    assert STAGING_BOOKKEEPING in plan.excluded
    assert plan.unchanged == [] and plan.delete == []
    assert plan.summary() == {
        "copy": len(RUN_OBJECTS),
        "copy_bytes": sum(len(TREE[key]) for key in RUN_OBJECTS),
        "unchanged": 0,
        "delete": 0,
        "excluded": len(plan.excluded),
    }
    report = promote_objects(plan, staging, production)
    assert report.copied == RUN_DATA + RUN_DOCUMENTS
    assert report.copied_bytes == plan.summary()["copy_bytes"]
    assert keys(production) == RUN_OBJECTS
    assert all(production.read_bytes(key) == TREE[key] for key in RUN_OBJECTS)

    again = plan_objects(staging, production, run_scope())
    assert again.copy == [] and again.delete == []
    assert [info.key for info in again.unchanged] == RUN_OBJECTS
    report = promote_objects(again, staging, production)
    assert (report.copied, report.deleted, report.unchanged) == ([], [], len(RUN_OBJECTS))

    staging.write_bytes(MRC, b"MRC-" * 16)
    changed = plan_objects(staging, production, run_scope())
    assert [info.key for info in changed.copy] == [MRC]
    assert promote_objects(changed, staging, production).copied == [MRC]
    assert production.read_bytes(MRC) == b"MRC-" * 16


def test_stale_objects_in_scope_are_deleted_and_nothing_else_is_touched(buckets) -> None:
    staging, production = buckets
    outside = {
        "10001/TS_02/stale.mrc": b"another run",
        "10001/TS_010/stale.mrc": b"a run whose name starts like TS_01",
        "10001/TS_01/_cryoet_assets/production.json": b"production's own bookkeeping",
    }
    stale = {f"{VS}/Tomograms/200/old.mrc": b"old", f"{VS}/Tomograms/200/tomogram_metadata.json": b"{}"}
    write(production, {**outside, **stale})

    plan = plan_objects(staging, production, run_scope())
    assert [info.key for info in plan.delete] == [f"{VS}/Tomograms/200/tomogram_metadata.json",
                                                  f"{VS}/Tomograms/200/old.mrc"]
    report = promote_objects(plan, staging, production)

    assert report.deleted == [info.key for info in plan.delete]
    assert keys(production) == sorted([*RUN_OBJECTS, *outside])
    assert all(production.read_bytes(key) == data for key, data in outside.items())


@pytest.mark.parametrize("pair", [("local", "local"), ("s3", "s3")], ids=["local", "s3"])
def test_a_dataset_scope_holds_its_files_and_images_but_not_its_runs(make_bucket, pair) -> None:
    staging, production = make_bucket(pair[0]), make_bucket(pair[1])
    write(staging, TREE)
    write(production, {"10001/old_notes.txt": b"stale", "10001/TS_09/run_metadata.json": b"{}"})

    plan = plan_objects(staging, production, partition_scope("dataset", "10001"))
    promote_objects(plan, staging, production)

    assert [info.key for info in plan.copy] == ["10001/Images/snapshot.png", "10001/dataset_metadata.json"]
    assert [info.key for info in plan.delete] == ["10001/old_notes.txt"]
    assert keys(production) == ["10001/Images/snapshot.png", "10001/TS_09/run_metadata.json",
                                "10001/dataset_metadata.json"]


@pytest.mark.parametrize("single_copy_limit", [None, MiB], ids=["copy_object", "multipart_copy"])
def test_a_multipart_staging_object_is_recognised_as_unchanged(
    make_bucket, tmp_path: Path, single_copy_limit: int | None
) -> None:
    from boto3.s3.transfer import TransferConfig

    staging, production = make_bucket("s3", "portal"), make_bucket("s3")
    local = tmp_path / "big.mrc"
    local.write_bytes(os.urandom(9 * MiB))
    # 5 MiB parts: a multipart copy (8 MiB parts) then gets another ETag than its source.
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    staging.client.upload_file(str(local), staging.bucket_name, staging._full(MRC), Config=config)
    source_etag = staging.info(MRC).etag
    assert source_etag.endswith("-2")
    limit = {} if single_copy_limit is None else {"single_copy_limit": single_copy_limit}

    promote_objects(plan_objects(staging, production, run_scope()), staging, production, **limit)
    if single_copy_limit is not None:
        assert production.info(MRC).etag != source_etag
    assert read_unchecked(production, MRC) == local.read_bytes()

    again = plan_objects(staging, production, run_scope())
    assert again.copy == [] and [info.key for info in again.unchanged] == [MRC]
    assert promote_objects(again, staging, production).copied == []


@pytest.mark.parametrize("change", ["rewritten", "deleted"])
def test_a_staging_object_changed_after_planning_is_refused(buckets, change: str) -> None:
    staging, production = buckets
    plan = plan_objects(staging, production, run_scope())
    if change == "rewritten":
        staging.write_bytes(MRC, b"new content")
    else:
        staging.delete(MRC)

    with pytest.raises(ContentChangedError, match="TS_01.mrc changed since the promotion was planned") as err:
        promote_objects(plan, staging, production)

    assert err.value.key == MRC
    if change == "rewritten" and all(isinstance(bucket, S3Bucket) for bucket in buckets):
        # S3 refuses the copy (x-amz-copy-source-if-match, sent with the planned ETag: see the test of conditional
        # copies); moto ignores that condition and copies, and the copy's ETag gives the change away.
        assert production.read_bytes(MRC) == b"new content"
    else:
        assert not production.exists(MRC)
    assert [key for key in keys(production) if is_metadata_document(key)] == []


@pytest.mark.parametrize("fail", [False, True], ids=["gate passes", "gate refuses"])
def test_before_metadata_sees_all_data_and_no_document_and_can_stop_them(buckets, fail: bool) -> None:
    staging, production = buckets
    seen: list[list[str]] = []

    def gate() -> None:
        seen.append(keys(production))
        if fail:
            raise RuntimeError("a check failed since planning")

    plan = plan_objects(staging, production, run_scope())
    if fail:
        with pytest.raises(RuntimeError, match="a check failed since planning"):
            promote_objects(plan, staging, production, before_metadata=gate)
    else:
        promote_objects(plan, staging, production, before_metadata=gate)

    assert seen == [RUN_DATA]
    assert keys(production) == (RUN_DATA if fail else RUN_OBJECTS)


def test_s3_copies_are_conditional_metadata_goes_last_and_deletes_documents_first(
    make_bucket, faults
) -> None:
    staging, production = make_bucket("s3", "portal"), make_bucket("s3")
    write(staging, TREE)
    stale = [f"{VS}/Tomograms/200/tomogram_metadata.json", f"{VS}/Tomograms/200/old.mrc"]
    write(production, dict.fromkeys(stale, b"stale"))
    faults.clear()

    plan = plan_objects(staging, production, run_scope())
    promote_objects(plan, staging, production)

    copies = [request for request in faults.requests if is_copy_object(request)]
    prefix = f"/{production.bucket_name}/"
    assert [request.key_path.removeprefix(prefix) for request in copies][-3:] == RUN_DOCUMENTS
    assert {request.key_path.removeprefix(prefix) for request in copies} == set(RUN_OBJECTS)
    planned = {info.key: info.etag for info in plan.copy}
    assert all(
        request.headers["x-amz-copy-source-if-match"] == f'"{planned[request.key_path.removeprefix(prefix)]}"'
        for request in copies
    )
    deletes = [
        request.key_path.removeprefix(prefix) for request in faults.requests if request.method == "DELETE"
    ]
    assert deletes == stale
    # A single-part object is copied in one request, metadata and content type with it, its MD5 ETag kept.
    assert [request.method for request in faults.requests if request.key_path.startswith(prefix)].count("HEAD") == 0
    copied = production.client.head_object(Bucket=production.bucket_name, Key=production._full(MRC))
    source = staging.client.head_object(Bucket=staging.bucket_name, Key=staging._full(MRC))
    assert (copied["ETag"], copied["ContentType"]) == (source["ETag"], source["ContentType"])


@pytest.mark.parametrize("pair", [("s3", "s3"), ("local", "s3")], ids=["server-side", "streamed"])
def test_s3_throttling_is_retried_with_backoff(make_bucket, faults, pair) -> None:
    staging, production = make_bucket(pair[0], "portal"), make_bucket(pair[1])
    write(staging, TREE)
    write(production, {f"{VS}/old.mrc": b"stale"})
    faults.add("list", is_list, times=1)
    faults.add("delete", lambda request: request.method == "DELETE", times=1)
    if pair[0] == "s3":
        faults.add("copy", is_copy_object, times=3)
    else:
        faults.add("upload", lambda request: request.method == "PUT", times=3)
        faults.add("download", lambda request: request.method == "GET" and not is_list(request), times=2)

    report = promote_objects(plan_objects(staging, production, run_scope()), staging, production)

    expected = {"list": 1, "delete": 1}
    expected.update({"copy": 3} if pair[0] == "s3" else {"upload": 3, "download": 2})
    assert dict(faults.injected) == expected
    assert report.copied == RUN_DATA + RUN_DOCUMENTS and report.deleted == [f"{VS}/old.mrc"]
    assert keys(production) == RUN_OBJECTS
    assert all(production.read_bytes(key) == TREE[key] for key in RUN_OBJECTS)


def _for_production(production: S3Bucket, method: str, key: str) -> Callable[[Request], bool]:
    path = f"/{production.bucket_name}/{production._full(key)}"
    return lambda request: request.method == method and request.key_path == path


def _corrupt_body(response: Response) -> Response:
    status, headers, body = response
    return status, headers, bytes([body[0] ^ 0xFF]) + body[1:]


def _wrong_copy_etag(response: Response) -> Response:
    """A CopyObject answer whose result names another ETag than the one the server was asked to copy."""
    import re

    status, headers, body = response
    return status, headers, re.sub(rb"<ETag>[^<]*</ETag>", b"<ETag>&quot;" + b"0" * 32 + b"&quot;</ETag>", body)


@pytest.mark.parametrize("pair", [("s3", "s3"), ("local", "s3")], ids=["server-side", "streamed"])
def test_a_copy_that_does_not_match_its_source_fails_verification(make_bucket, faults, pair) -> None:
    staging, production = make_bucket(pair[0], "portal"), make_bucket(pair[1])
    write(staging, TREE)
    if pair[0] == "s3":
        faults.add("corrupt", _for_production(production, "PUT", MRC), alter=_wrong_copy_etag)
        expected = f"ETag {staging.info(MRC).etag}"
        found = "ETag 00000000000000000000000000000000"
    else:
        faults.add("corrupt", _for_production(production, "GET", MRC), alter=_corrupt_body)
        expected, found = "SHA-256", "SHA-256"

    with pytest.raises(VerificationError) as info:
        promote_objects(plan_objects(staging, production, run_scope()), staging, production)

    assert faults.injected["corrupt"] == 1
    assert info.value.key == MRC and expected in info.value.expected and found in info.value.found
    assert info.value.expected != info.value.found
    assert f"{production.uri(MRC)} does not match its source" in str(info.value)
    assert [key for key in keys(production) if is_metadata_document(key)] == []


KILLED_PROMOTION = textwrap.dedent(
    """
    import os, sys, time
    from cryoet_assets.lib.promotion.objects import partition_scope, plan_objects, promote_objects
    from cryoet_assets.lib.storage import LocalBucket

    staging, production = LocalBucket(sys.argv[1]), LocalBucket(sys.argv[2])

    def gate():
        print("data copied", flush=True)
        time.sleep(60)

    scope = partition_scope("acquisition_run", "10001__TS_01")
    promote_objects(plan_objects(staging, production, scope), staging, production, before_metadata=gate)
    """
)


def test_a_promotion_killed_before_its_metadata_leaves_no_document_and_its_rerun_completes(
    tmp_path: Path,
) -> None:
    staging, production = LocalBucket(tmp_path / "staging"), LocalBucket(tmp_path / "production")
    write(staging, TREE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[3]),
                                                                        os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_PROMOTION, str(staging.root), str(production.root)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert process.stdout.readline() == "data copied\n"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    assert keys(production) == RUN_DATA
    rerun = plan_objects(staging, production, run_scope())
    assert [info.key for info in rerun.copy] == RUN_DOCUMENTS
    promote_objects(rerun, staging, production)
    assert keys(production) == RUN_OBJECTS


def test_a_plan_naming_a_key_outside_its_scope_or_bookkeeping_is_refused(make_bucket) -> None:
    staging, production = make_bucket("local"), make_bucket("local")
    write(staging, TREE)
    other_run = ObjectInfo("10001/TS_02/run_metadata.json", 16, staging.info(RUN_DOC).last_modified, "x")
    bookkeeping = ObjectInfo(STAGING_BOOKKEEPING, 2, other_run.last_modified, "y")
    for info, reason in [(other_run, "outside it"), (bookkeeping, "bookkeeping key")]:
        with pytest.raises(ValueError, match=reason):
            promote_objects(ObjectPlan(copy=[info], scope=run_scope()), staging, production)
    assert keys(production) == []


def test_partition_scopes() -> None:
    assert partition_scope("deposition", "10301") == Scope("depositions_metadata/10301")
    assert partition_scope("dataset", "10001") == Scope("10001", folders=("Images",))
    assert partition_scope("acquisition_run", "10001__TS_01") == Scope("10001/TS_01")
    dataset = partition_scope("dataset", "10001")
    assert dataset.contains("10001/dataset_metadata.json") and dataset.contains("10001/Images/a/b.png")
    assert not dataset.contains("10001/TS_01/run_metadata.json") and not dataset.contains("100012/x.json")
    assert Scope("a/b/").prefix == "a/b"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Scope(""),
        lambda: Scope("../production"),
        lambda: Scope("/10001"),
        lambda: Scope("10001//TS_01"),
        lambda: Scope("10001/./TS_01"),
        lambda: Scope("10001", folders=("../10002",)),
        lambda: Scope("10001", folders=("",)),
    ],
)
def test_unsafe_scopes_are_refused(make) -> None:
    with pytest.raises(UnsafePathError, match="promotion scope"):
        make()


def test_bad_partition_keys_and_levels_are_refused() -> None:
    with pytest.raises(UnsafeNameError, match="no '__' separator"):
        partition_scope("acquisition_run", "10001")
    with pytest.raises(UnsafeNameError, match="dataset id '../10001'"):
        partition_scope("dataset", "../10001")
    with pytest.raises(ValueError, match="partition level 'tomogram'"):
        partition_scope("tomogram", "10001")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not the string 'Images'"):
        Scope("10001", folders="Images")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("10001/dataset_metadata.json", True),
        (NEUROGLANCER_DOC, True),
        ("10001/X/Annotations/100/anno.JSON", True),
        (f"{VS}/Tomograms/100/TS_01.zarr/zarr.json", False),
        (f"{VS}/Tomograms/100/TS_01.zarr/0/.zarray", False),
        (f"{VS}/Tomograms/100/TS_01.zarr/.zattrs", False),
        (MRC, False),
        ("10001/X/Annotations/100/points.ndjson", False),
    ],
)
def test_is_metadata_document(key: str, expected: bool) -> None:
    assert is_metadata_document(key) is expected
