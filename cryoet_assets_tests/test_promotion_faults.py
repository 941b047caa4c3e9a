"""Promotion killed in the middle of its copies (issue 10, item 7): what production and the instance are left with,
and a second `promote` completing it."""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import unquote

from cryoet_assets.lib.demo import write_demo
from cryoet_assets.lib.promotion.objects import is_bookkeeping, is_metadata_document, partition_scope
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets_tests.console import SCRIPT, run
from cryoet_assets_tests.s3_faults import FaultProxy, Request

KILLED_RUN = "20999/TS_001/"


def _objects(bucket) -> dict[str, bytes]:
    return {info.key: bucket.read_bytes(info.key) for info in bucket.list("") if not is_bookkeeping(info.key)}


def _partitions(staging) -> list[tuple[str, str]]:
    """(level, key) of every partition staging holds outputs of: its depositions, datasets and runs."""
    found = []
    for folder in staging.listdir("")[0]:
        if folder == "depositions_metadata":
            found += [("deposition", name) for name in staging.listdir(folder)[0]]
        elif folder.isdigit():
            found.append(("dataset", folder))
            found += [("acquisition_run", f"{folder}__{name}") for name in staging.listdir(folder)[0]
                      if name != "Images"]
    return sorted(found)


def _holds_killed_data(request: Request) -> bool:
    key = unquote(request.key_path).split("/", 2)[-1]
    return request.method == "PUT" and key.startswith(KILLED_RUN) and not is_metadata_document(key)


def test_a_promotion_killed_mid_copy_leaves_no_document_without_its_data_and_promoting_again_completes_it(
    tmp_path: Path, s3_bucket_url
):
    import dagster as dg

    production_url, endpoint = s3_bucket_url()
    deposit = open_bucket(str(tmp_path / "cryoetportal-rawdatasets-dev"))
    demo = write_demo(deposit=deposit, configs=open_bucket(str(tmp_path / "incoming")))
    # One run is enough (TS_001, the one with a binned tomogram too): the others would only make ingest longer.
    for name in ("TS_002", "TS_003"):
        for info in list(deposit.list(f"lab_uploads/demo/runs/{name}")):
            deposit.delete(info.key)
    data_map = deposit.read_text("lab_uploads/demo/run_data_map.tsv").splitlines(keepends=True)
    deposit.write_bytes("lab_uploads/demo/run_data_map.tsv",
                        "".join(line for line in data_map if not line.startswith(("TS_002", "TS_003"))).encode())
    home = tmp_path / "home"
    ingest = ["ingest", "--config", str(tmp_path / "incoming" / demo.config_key), "--deposit", deposit.uri(""),
              "--staging", str(tmp_path / "staging"), "--db", f"sqlite:///{tmp_path / 'staging.db'}",
              "--dagster-home", str(home), "--workers", "1"]
    ingested = run(ingest, cwd=tmp_path)
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    staging = open_bucket(str(tmp_path / "staging"))
    production = open_bucket(production_url, endpoint_url=endpoint)

    with FaultProxy(endpoint) as proxy:
        promote = ["promote", "--staging", str(tmp_path / "staging"), "--production", production_url,
                   "--db", f"sqlite:///{tmp_path / 'staging.db'}",
                   "--production-db", f"sqlite:///{tmp_path / 'production.db'}", "--s3-endpoint-url", endpoint,
                   "--production-https-prefix", "https://files.example.org", "--dagster-home", str(home)]
        release = threading.Event()
        # One data object of TS_001 is held in flight; the others are copied meanwhile.
        proxy.add("hold", _holds_killed_data, hold=release)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CRYOET_", "DAGSTER_"))}
        env["TMPDIR"] = str(tmp_path)  # where the killed process leaves its S3 work folders
        through_proxy = [proxy.url if arg == endpoint else arg for arg in promote]
        cli = subprocess.Popen([str(SCRIPT), *through_proxy], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        killed = False
        deadline = time.monotonic() + 120
        try:
            while not killed and cli.poll() is None and time.monotonic() < deadline:
                copied = [info.key for info in production.list(KILLED_RUN)]
                if proxy.injected["hold"] and copied:
                    os.kill(cli.pid, signal.SIGKILL)
                    killed = True
                time.sleep(0.05)
            out, err = cli.communicate(timeout=60)
        finally:
            release.set()
            if cli.poll() is None:
                cli.kill()
                cli.wait()
    assert killed, out + err
    assert cli.returncode == -signal.SIGKILL

    # Nothing in production points at data it does not have: each metadata document's partition has all of
    # its data objects there, with staging's content; the killed run has some data and no document.
    staged, promoted = _objects(staging), _objects(production)
    partitions = _partitions(staging)
    assert ("acquisition_run", "20999__TS_001") in partitions and len(partitions) == 3
    documents = [key for key in promoted if is_metadata_document(key)]
    assert documents
    assert not [key for key in documents if key.startswith(KILLED_RUN)]
    assert any(key.startswith(KILLED_RUN) for key in promoted)
    assert any(key.startswith(KILLED_RUN) and key not in promoted for key in staged)
    for document in documents:
        [scope] = [partition_scope(level, key) for level, key in partitions
                   if partition_scope(level, key).contains(document)]
        assert promoted[document] == staged[document]
        for key, data in staged.items():
            if scope.contains(key) and not is_metadata_document(key):
                assert promoted.get(key) == data, f"{document} is in production, its data {key} is not"

    # The killed promotion's run is left STARTED: it ran in the killed process, which nothing watches.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [killed_run] = instance.get_runs(dg.RunsFilter(job_name="acquisition_run_promotion_job"))
        assert killed_run.status == dg.DagsterRunStatus.STARTED
        assert killed_run.tags["dagster/partition"] == "20999__TS_001"

    again = run(promote, cwd=tmp_path)  # straight to the S3 server this time
    assert again.returncode == 0, again.stdout + again.stderr
    assert (f"run {killed_run.run_id} (acquisition_run_promotion_job 20999__TS_001) of a promote command that "
            "died is marked failed") in again.stdout
    assert "3 partitions promoted, 0 refused" in again.stdout
    assert "REFUSED" not in again.stdout
    assert _objects(production) == staged
    assert {info.key for info in production.list("")} == staged.keys()  # no bookkeeping reached it

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(dg.RunsFilter(job_name="acquisition_run_promotion_job"))
        by_partition = {}
        for each in runs:
            by_partition.setdefault(each.tags["dagster/partition"], []).append(each.status)
        in_progress = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    assert by_partition == {
        "20999__TS_001": [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE],
    }
    assert in_progress == []
