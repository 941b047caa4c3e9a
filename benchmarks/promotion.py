"""Promotion benchmark: objects/s and MB/s of promoting one acquisition run's objects from a staging to a
production S3 bucket, against an `aws s3 sync --delete` equivalent on the same data.

    python benchmarks/promotion.py                     # 2,000 small + 4 x 64 MB objects, 3 repetitions
    python benchmarks/promotion.py --quick             # 600 small + 2 x 32 MB, 1 repetition
    python benchmarks/promotion.py --small 5000 --large 8 --large-mb 128 --repeat 5

S3 is moto's ThreadedMotoServer on 127.0.0.1 (a free port), started by this script in a child process of
its own, so that the server and the clients measured do not share an interpreter lock or a resident set;
fake credentials are set in this process's environment, which the server inherits. Nothing else is
contacted.

The staging bucket holds the run 10001/TS_01 in the portal's layout: `--large` tomograms, each an MRC of
`--large-mb` MB (10^6 bytes) uploaded through boto3's managed upload (so multipart, 8 MiB parts, and its
ETag is a multipart one) with its OME-Zarr (`--small` chunks of 1-8 KB spread over the tomograms' `x.zarr/0`,
`/1` and `/2` levels, put in one request each) and its tomogram_metadata.json, and the run_metadata.json.
The contents are random bytes.

Two tools, each promoting into a production bucket of its own:

- `ours`: `plan_objects` then `promote_objects` (cryoet_assets.lib.promotion.objects) with their default
  threads, over the run's scope (`partition_scope("acquisition_run", "10001__TS_01")`), buckets opened by
  `cryoet_assets.lib.storage.open_bucket`. Server-side copies, each conditional on the planned ETag: a
  single-part object in one CopyObject verified by the ETag it answers with, a multipart one after a HEAD
  of its source and verified by a HEAD of the copy; metadata documents after the data.
- `sync`: what `aws s3 sync --delete s3://staging/10001/TS_01/ s3://production/10001/TS_01/` does, written
  with boto3: both sides listed (ListObjectsV2), a key copied when production lacks it, or its size differs,
  or the staging object's LastModified is newer than production's (the AWS CLI's default comparison: size and
  last-modified time, not ETags; `--exact-timestamps` and `--size-only` not given), production keys staging
  lacks deleted. Copies and deletes go through s3transfer's TransferManager, as the CLI's do, with the CLI's
  defaults: 10 concurrent requests, multipart threshold and part size 8 MiB (so a large object is copied by
  UploadPartCopy in 8 MiB parts), the size from the listing given to the transfer (no HEAD), no properties
  copied beyond what CopyObject carries (the CLI's `--copy-props none`), no verification after the copy.

Cases, in this order on fresh production buckets in each repetition, each tool timed in each case (which
goes first alternates between repetitions); `--repeat` repetitions, medians reported:

- `first`: promotion into an empty production bucket; every object is copied.
- `unchanged`: the same promotion again with nothing changed. Ours copies nothing (its CopyObject copy of a
  multipart source has another ETag, but its `source-etag` metadata matches). The sync equivalent copies
  nothing either, because its production copies are newer than their sources. After every case the notes
  say how many production objects have another ETag than their staging source, which a sync comparing ETags
  would copy again: ours, the multipart sources (copied in one CopyObject); the sync equivalent's multipart
  copies keep their source's ETag (same 8 MiB parts).
- `changed`: `--changed-small` small objects and `--changed-large` large ones rewritten in staging with new
  random bytes of the same sizes (so the sync equivalent must tell them by time), after a pause of a second
  so that their LastModified (whole seconds in S3 listings) is later than the production copies'.

Timed: from the start of the first listing to the last copy or delete done, clients built beforehand.
After each case both production buckets are listed (not timed) and checked to hold exactly the staging
keys, with their sizes. Per case and tool it prints objects and MB copied, seconds (median), objects/s and
MB/s (copied / median seconds) and the speed-up (sync seconds / ours seconds); then the peak RSS of this
process (its VmHWM: both tools' clients and the data generation, which holds one large object at a time)
and of the S3 server's process.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASET = "10001"
RUN = "TS_01"
VOXEL_SPACING = 10.0
FIRST_TOMOGRAM_ID = 100
MIB = 1024 * 1024
# The AWS CLI's S3 transfer defaults (max_concurrent_requests, multipart_threshold, multipart_chunksize).
SYNC_CONCURRENCY = 10
SYNC_MULTIPART = 8 * MIB
UPLOAD_THREADS = 10
CASES = ("first", "unchanged", "changed")
TOOLS = ("ours", "sync")

SERVER = """
import logging, sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()
server.stop()
"""


@dataclass
class Run:
    """One timed promotion: objects and bytes copied, objects deleted, wall seconds."""

    copied: int
    copied_bytes: int
    deleted: int
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class Dataset:
    small: list[str]
    large: list[str]
    documents: list[str]
    sizes: dict[str, int]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2000, help="small objects (OME-Zarr chunks)")
    parser.add_argument("--small-kb", nargs=2, type=int, default=[1, 8], metavar=("MIN", "MAX"),
                        help="size range of the small objects, KB (10^3 bytes)")
    parser.add_argument("--large", type=int, default=4, help="large objects (MRCs), one per tomogram")
    parser.add_argument("--large-mb", type=int, default=64, help="size of each large object, MB (10^6 bytes)")
    parser.add_argument("--changed-small", type=int, default=10, help="small objects rewritten: changed case")
    parser.add_argument("--changed-large", type=int, default=1, help="large objects rewritten: changed case")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of every case for both tools")
    parser.add_argument("--quick", action="store_true",
                        help="a short look: 600 small objects, 2 large of 32 MB, 1 repetition")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.small, args.large, args.large_mb, args.repeat = 600, 2, 32, 1
    if args.repeat < 1 or args.small < 0 or args.large < 0 or args.large_mb < 1:
        parser.error("--repeat, --large-mb must be at least 1; --small, --large at least 0")
    args.changed_small = min(args.changed_small, args.small)
    args.changed_large = min(args.changed_large, args.large)

    sys.path.insert(0, str(REPO))
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1")
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    logging.basicConfig(level=logging.WARNING)

    server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        endpoint = server.stdout.readline().strip()
        if not endpoint.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the S3 server did not start (it printed {endpoint!r})")
        results = run_benchmark(args, endpoint)
        server_rss_mb = _peak_rss_mb(server.pid)
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print_table(results, args, server_rss_mb)
    failures = [note for runs in results.values() for run in runs for note in run.notes
                if not note.startswith("info:")]
    return 1 if failures else 0


def run_benchmark(args: argparse.Namespace, endpoint: str) -> dict[tuple[str, str], list[Run]]:
    import boto3
    from botocore.config import Config

    from cryoet_assets.lib.promotion.objects import partition_scope

    client = boto3.client("s3", endpoint_url=endpoint,
                          config=Config(s3={"addressing_style": "path"},
                                        max_pool_connections=32))
    scope = partition_scope("acquisition_run", f"{DATASET}__{RUN}")
    rng = random.Random(args.seed)
    staging = _new_bucket(client, "staging")
    started = time.perf_counter()
    data = write_dataset(client, staging, args, rng)
    total = sum(data.sizes.values())
    print(f"staging: {len(data.sizes)} objects, {total / 1e6:.1f} MB written in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)

    results: dict[tuple[str, str], list[Run]] = {(case, tool): [] for case in CASES for tool in TOOLS}
    for repetition in range(args.repeat):
        targets = {tool: _new_bucket(client, f"production-{tool}") for tool in TOOLS}
        order = TOOLS if repetition % 2 == 0 else TOOLS[::-1]
        for case in CASES:
            if case == "changed":
                time.sleep(1.1)
                rewrite(client, staging, data, args, rng)
            for tool in order:
                promote = promote_ours if tool == "ours" else promote_sync
                run = promote(endpoint, client, staging, targets[tool], scope.prefix)
                run.notes += check_copy(client, staging, targets[tool], scope.prefix)
                if tool == "ours" and case == "unchanged" and run.copied:
                    run.notes.append(f"ours copied {run.copied} objects with nothing changed")
                results[(case, tool)].append(run)
                print(f"repetition {repetition + 1}, {case}, {tool}: {run.copied} objects, "
                      f"{run.copied_bytes / 1e6:.1f} MB, {run.seconds:.2f} s", file=sys.stderr)
        for bucket in targets.values():
            _drop_bucket(client, bucket)
    _drop_bucket(client, staging)
    return results


def write_dataset(client, bucket: str, args: argparse.Namespace, rng: random.Random) -> Dataset:
    """The staging run: small zarr chunks put in one request each, large MRCs through the managed
    (multipart) upload, then the metadata documents."""
    from cryoet_assets.lib import paths

    tomograms = [paths.tomogram_dir(DATASET, RUN, VOXEL_SPACING, FIRST_TOMOGRAM_ID + i)
                 for i in range(max(args.large, 1))]
    low, high = args.small_kb
    small: list[str] = []
    sizes: dict[str, int] = {}
    for index in range(args.small):
        tomogram = tomograms[index % len(tomograms)]
        chunk = index // len(tomograms)
        level = chunk % 3
        key = f"{tomogram}/{RUN}.zarr/{level}/c/{chunk // 256}/{chunk // 16 % 16}/{chunk % 16}"
        small.append(key)
        sizes[key] = rng.randint(low * 1000, high * 1000)
    _put_all(client, bucket, {key: rng.randbytes(sizes[key]) for key in small})

    large = [f"{tomogram}/{RUN}.mrc" for tomogram in tomograms[: args.large]]
    for key in large:
        sizes[key] = args.large_mb * 1_000_000
        _upload_large(client, bucket, key, rng.randbytes(sizes[key]))

    documents = [paths.run_metadata_path(DATASET, RUN)] + [f"{tomogram}/tomogram_metadata.json"
                                                           for tomogram in tomograms]
    _put_all(client, bucket, {key: (b'{"benchmark": "%d"}' % i) for i, key in enumerate(documents)},
             content_type="application/json")
    sizes.update({key: len(b'{"benchmark": "%d"}' % i) for i, key in enumerate(documents)})
    return Dataset(small=small, large=large, documents=documents, sizes=sizes)


def rewrite(client, bucket: str, data: Dataset, args: argparse.Namespace, rng: random.Random) -> None:
    """New random bytes, same sizes, for the changed case's objects (spread over the small ones)."""
    step = max(len(data.small) // max(args.changed_small, 1), 1)
    small = data.small[::step][: args.changed_small]
    _put_all(client, bucket, {key: rng.randbytes(data.sizes[key]) for key in small})
    for key in data.large[: args.changed_large]:
        _upload_large(client, bucket, key, rng.randbytes(data.sizes[key]))


def promote_ours(endpoint: str, client, staging: str, production: str, prefix: str) -> Run:
    from cryoet_assets.lib.promotion.objects import Scope, plan_objects, promote_objects
    from cryoet_assets.lib.storage import open_bucket

    source = open_bucket(f"s3://{staging}", endpoint_url=endpoint)
    target = open_bucket(f"s3://{production}", endpoint_url=endpoint)
    _ = source.client, target.client  # built before the clock starts, as the sync side's are
    started = time.perf_counter()
    plan = plan_objects(source, target, Scope(prefix))
    report = promote_objects(plan, source, target)
    seconds = time.perf_counter() - started
    return Run(copied=len(report.copied), copied_bytes=report.copied_bytes, deleted=len(report.deleted),
               seconds=seconds)


def promote_sync(endpoint: str, client, staging: str, production: str, prefix: str) -> Run:
    """`aws s3 sync --delete` of `prefix/` from `staging` to `production`, as the module docstring says."""
    from s3transfer.manager import TransferConfig, TransferManager
    from s3transfer.subscribers import BaseSubscriber

    class KnownSize(BaseSubscriber):
        def __init__(self, size: int) -> None:
            self.size = size

        def on_queued(self, future, **kwargs) -> None:
            future.meta.provide_transfer_size(self.size)

    config = TransferConfig(max_request_concurrency=SYNC_CONCURRENCY, multipart_threshold=SYNC_MULTIPART,
                            multipart_chunksize=SYNC_MULTIPART)
    folder = prefix.rstrip("/") + "/"
    with TransferManager(client, config) as manager:
        started = time.perf_counter()
        source = _listing(client, staging, folder)
        held = _listing(client, production, folder)
        copy = [item for key, item in source.items()
                if key not in held
                or held[key]["Size"] != item["Size"]
                or item["LastModified"] > held[key]["LastModified"]]
        delete = [key for key in held if key not in source]
        futures = [manager.copy({"Bucket": staging, "Key": item["Key"]}, production, item["Key"],
                                subscribers=[KnownSize(item["Size"])]) for item in copy]
        futures += [manager.delete(production, key) for key in delete]
        for future in futures:
            future.result()
        seconds = time.perf_counter() - started
    return Run(copied=len(copy), copied_bytes=sum(item["Size"] for item in copy), deleted=len(delete),
               seconds=seconds)


def check_copy(client, staging: str, production: str, prefix: str) -> list[str]:
    """Differences between the keys and sizes of `prefix/` in both buckets, as notes; when there are none, an
    informative note (starting "info:") of how many production objects have another ETag than their source."""
    folder = prefix.rstrip("/") + "/"
    listed = _listing(client, staging, folder)
    copies = _listing(client, production, folder)
    source = {key: item["Size"] for key, item in listed.items()}
    held = {key: item["Size"] for key, item in copies.items()}
    if source == held:
        etags = sum(1 for key, item in listed.items() if copies[key]["ETag"] != item["ETag"])
        return [f"info: afterwards {etags} production objects have another ETag than their source "
                "(a sync comparing ETags would copy them again)"] if etags else []
    missing = sorted(set(source) - set(held))
    extra = sorted(set(held) - set(source))
    sized = sorted(key for key in set(source) & set(held) if source[key] != held[key])
    return [f"s3://{production}/{folder}: {len(missing)} missing, {len(extra)} extra, {len(sized)} of "
            f"another size (e.g. {(missing + extra + sized)[0]})"]


def _listing(client, bucket: str, folder: str) -> dict[str, dict]:
    items: dict[str, dict] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
        for item in page.get("Contents", []):
            items[item["Key"]] = item
    return items


def _put_all(client, bucket: str, objects: dict[str, bytes], content_type: str | None = None) -> None:
    extra = {"ContentType": content_type} if content_type else {}
    put: Callable[[tuple[str, bytes]], object] = lambda item: client.put_object(  # noqa: E731
        Bucket=bucket, Key=item[0], Body=item[1], **extra)
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        list(pool.map(put, objects.items()))


def _upload_large(client, bucket: str, key: str, body: bytes) -> None:
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=SYNC_MULTIPART, multipart_chunksize=SYNC_MULTIPART)
    client.upload_fileobj(io.BytesIO(body), bucket, key, Config=config)


def _new_bucket(client, role: str) -> str:
    name = f"bench-{role}-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name


def _drop_bucket(client, bucket: str) -> None:
    keys = [{"Key": key} for key in _listing(client, bucket, "")]
    for start in range(0, len(keys), 1000):
        client.delete_objects(Bucket=bucket, Delete={"Objects": keys[start:start + 1000], "Quiet": True})
    client.delete_bucket(Bucket=bucket)


def _peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident set size (VmHWM) of process `pid`, MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def print_table(results: dict[tuple[str, str], list[Run]], args: argparse.Namespace,
                server_rss_mb: float) -> None:
    print(f"\npromotion of one run ({args.small} objects of {args.small_kb[0]}-{args.small_kb[1]} KB, "
          f"{args.large} of {args.large_mb} MB, {max(args.large, 1) + 1} metadata documents) between two "
          f"loopback S3 buckets; median of {args.repeat}; MB = 10^6 bytes")
    header = ["case", "tool", "objects", "MB", "s", "objects/s", "MB/s", "speed-up", "range s"]
    rows = []
    for case in CASES:
        medians = {tool: statistics.median(run.seconds for run in results[(case, tool)]) for tool in TOOLS}
        for tool in TOOLS:
            runs = results[(case, tool)]
            last = runs[-1]
            seconds = medians[tool]
            copied = last.copied if all(run.copied == last.copied for run in runs) else \
                "/".join(str(run.copied) for run in runs)
            mb = last.copied_bytes / 1e6
            rows.append([
                case, tool, copied, f"{mb:.1f}", f"{seconds:.2f}",
                f"{last.copied / seconds:.0f}" if last.copied else "-",
                f"{mb / seconds:.1f}" if last.copied else "-",
                f"{medians['sync'] / medians['ours']:.2f}x" if tool == "ours" else "",
                f"{min(run.seconds for run in runs):.2f}-{max(run.seconds for run in runs):.2f}",
            ])
    _print_rows(header, rows)
    print("speed-up: sync-equivalent median s / ours median s (above 1: ours faster)")
    failures = 0
    for (case, tool), runs in results.items():
        for note in sorted({note for run in runs for note in run.notes}):
            print(f"note, {case}, {tool}: {note}")
            failures += not note.startswith("info:")
    if not failures:
        print("after every case, both production buckets held exactly the staging keys, with their sizes")
    print(f"peak RSS: this process {_peak_rss_mb():.0f} MiB, S3 server process {server_rss_mb:.0f} MiB")


def _print_rows(header: list[str], rows: list[list[object]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    sys.exit(main())
