"""`cryoet-assets grant-deposit`: bad input named, and the printed upload examples run as printed."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from cryoet_assets.cli import main
from cryoet_assets.lib.storage import open_bucket


def refused(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(["grant-deposit", *args])
    assert exit_.value.code == 2
    return capsys.readouterr().err


def test_bad_deposition_local_deposit_and_bad_expiry_are_named(tmp_path, capsys):
    s3 = ["--deposit", "s3://deposits/uploads"]
    err = refused([*s3, "--deposition", "10001/../x"], capsys)
    assert "argument --deposition: deposition id '10001/../x' is not a safe name" in err
    err = refused(["--deposit", str(tmp_path), "--deposition", "10001"], capsys)
    assert f"--deposit '{tmp_path}' is a local folder: presigned uploads and IAM policies need an S3" in err
    err = refused(["--deposit", f"file://{tmp_path}", "--deposition", "10001"], capsys)
    assert "is a local folder" in err
    err = refused([*s3, "--deposition", "10001", "--expires", "8d"], capsys)
    assert ("argument --expires: expiry '8d' is longer than 7 days, the longest a presigned POST signed "
            "with AWS Signature Version 4 stays valid") in err
    err = refused([*s3, "--deposition", "10001", "--expires", "1w"], capsys)
    assert "argument --expires: expiry '1w' is not a duration: write a whole number of days, hours" in err
    err = refused(["--deposit", "s3://Bad_Bucket/x", "--deposition", "10001"], capsys)
    assert "--deposit: bucket URL 's3://Bad_Bucket/x': S3 bucket name 'Bad_Bucket' is not valid" in err
    assert not any(tmp_path.iterdir())


def test_a_bucket_that_refuses_the_record_fails_with_its_reason(s3_endpoint_url, capsys):
    code = main(["grant-deposit", "--deposit", "s3://no-such-deposit/uploads", "--deposition", "10001",
                 "--s3-endpoint-url", s3_endpoint_url])
    assert code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "s3://no-such-deposit/uploads: cannot grant access to deposition 10001:" in err
    assert "NoSuchBucket" in err


def _section(out: str, heading: str) -> list[str]:
    """The lines after the line starting with `heading`, up to the next blank line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading)) + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].strip())
    return lines[start:end]


def test_grant_prints_post_policy_and_examples_that_work(tmp_path, s3_bucket_url, capsys):
    url, endpoint = s3_bucket_url("uploads")
    assert main(["grant-deposit", "--deposit", url, "--deposition", "10001", "--expires", "12h",
                 "--s3-endpoint-url", endpoint]) == 0
    out = capsys.readouterr().out
    deposit = open_bucket(url, endpoint_url=endpoint)
    record = json.loads(deposit.read_bytes("_cryoet_assets/grants/10001.json"))
    assert out.startswith(f"Deposition 10001: upload into {url}/10001/ until {record['expires']} (UTC)")
    assert f"Grant recorded in {url}/_cryoet_assets/grants/10001.json" in out
    assert f"Expires: {record['expires']} (UTC)." in out
    post = json.loads("\n".join(_section(out, "Presigned POST")))
    assert post["fields"]["key"] == "uploads/10001/${filename}"
    policy = json.loads("\n".join(_section(out, "IAM policy document")))
    assert policy["Statement"][0]["Resource"].endswith("/uploads/10001/*")

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed: the printed curl example was not run")
    (tmp_path / "TS_001.mrc").write_bytes(b"from curl")
    curl = "\n".join(_section(out, "Upload one file with curl:"))
    done = subprocess.run(["bash", "-c", curl], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert deposit.read_bytes("10001/TS_001/TS_001.mrc") == b"from curl"

    (tmp_path / "my_deposit" / "runs").mkdir(parents=True)
    (tmp_path / "my_deposit" / "runs" / "TS_002.mrc").write_bytes(b"from requests")
    (tmp_path / "my_deposit" / "_DONE").write_bytes(b"")
    snippet = textwrap.dedent("\n".join(_section(out, "Upload a folder with Python and the presigned POST:")))
    done = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=os.environ)
    assert done.returncode == 0, done.stdout + done.stderr
    assert deposit.read_bytes("10001/runs/TS_002.mrc") == b"from requests"
    assert deposit.exists("10001/_DONE")
