"""Deposit grants against moto on loopback: what the presigned POST and the IAM policy let a creator upload.

What moto 5.2.5's server checks: a form POST is stored whatever its policy, key or signature (it never reads
the policy), so the refusal outside the granted folder is shown with the IAM policy document under moto's
IAM enforcement, which checks the request's SigV4 signature and the statements' Action and Resource. Moto
ignores condition operators other than StringEquals, so the policy's `s3:prefix` and `aws:CurrentTime`
conditions are not exercised here.
"""

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from cryoet_assets.lib.deposit_access import (
    DepositAccessError,
    grant_deposit,
    grant_record_key,
    granted_prefixes,
    grants_version,
    parse_expiry,
    signed_policy,
    within_grants,
)
from cryoet_assets.lib.storage import open_bucket

# A moto server in a process of its own: switching IAM enforcement on is process-wide in moto, and this
# way it never reaches the session's shared server.
AUTH_SERVER = """
import logging, sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


def _client(service: str, endpoint: str, **credentials):
    config = Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1})
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", config=config, **credentials)


@pytest.fixture
def enforcing_s3(tmp_path, s3_endpoint_url):
    """Endpoint of a fresh moto server in its own process, and a function that turns IAM enforcement on.

    Until then it takes any credentials, e.g. the fake ones `s3_endpoint_url` puts in the environment.
    """
    env = {k: v for k, v in os.environ.items() if k != "INITIAL_NO_AUTH_ACTION_COUNT"}
    with (tmp_path / "moto.log").open("w") as log:
        server = subprocess.Popen([sys.executable, "-c", AUTH_SERVER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        line = server.stdout.readline()
        assert line.strip().isdigit(), f"moto did not start: {(tmp_path / 'moto.log').read_text()}"
        endpoint = f"http://127.0.0.1:{int(line)}"

        def enforce() -> None:
            response = requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=30)
            response.raise_for_status()

        yield endpoint, enforce
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_parse_expiry_takes_days_hours_minutes_up_to_seven_days():
    assert parse_expiry("7d") == timedelta(days=7)
    assert parse_expiry("12h") == timedelta(hours=12)
    assert parse_expiry(" 30M ") == timedelta(minutes=30)
    with pytest.raises(DepositAccessError, match="longer than 7 days.*Signature Version 4"):
        parse_expiry("8d")
    with pytest.raises(DepositAccessError, match="longer than 7 days"):
        parse_expiry("169h")
    for bad in ("0m", "7", "1w", "1.5d", "-1d", ""):
        with pytest.raises(DepositAccessError, match=repr(bad)):
            parse_expiry(bad)


def test_within_grants_matches_whole_folders():
    granted = ["10001", "uploads"]
    assert within_grants("10001", granted) and within_grants("10001/", granted)
    assert within_grants("10001/raw/tomograms", granted) and within_grants("uploads/x", granted)
    assert not within_grants("10001-old", granted) and not within_grants("100", granted)
    assert not within_grants("", granted) and not within_grants("other/10001", granted)
    assert grants_version(granted) == grants_version(list(reversed(granted))) != grants_version(["10001"])


def test_a_local_deposit_gets_no_grant(tmp_path):
    with pytest.raises(DepositAccessError, match="is a local folder: presigned uploads and IAM policies need"):
        grant_deposit(str(tmp_path / "deposit"), "10001", timedelta(hours=1))
    assert not (tmp_path / "deposit").exists()


def test_grant_records_the_prefix_and_signs_a_policy_for_it(s3_bucket_url):
    url, endpoint = s3_bucket_url("uploads")
    deposit = open_bucket(url, endpoint_url=endpoint)
    grant = grant_deposit(deposit, "10001", timedelta(hours=12))

    assert grant.key_prefix == "uploads/10001/" and grant.deposition == "10001"
    assert grant.expires - grant.created == timedelta(hours=12)
    record = json.loads(deposit.read_bytes("_cryoet_assets/grants/10001.json"))
    assert record == {"deposition": "10001", "bucket": deposit.bucket_name, "prefix": "uploads/10001/",
                      "created": grant.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "expires": grant.expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert grant.record_uri == f"{url}/{grant_record_key('10001')}"

    policy = signed_policy(grant.post)
    assert ["starts-with", "$key", "uploads/10001/"] in policy["conditions"]
    assert {"bucket": deposit.bucket_name} in policy["conditions"]
    assert policy["expiration"] == grant.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert grant.post["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"

    upload, listing = grant.iam_policy["Statement"]
    assert upload["Resource"] == f"arn:aws:s3:::{deposit.bucket_name}/uploads/10001/*"
    assert set(upload["Action"]) == {"s3:PutObject", "s3:AbortMultipartUpload"}
    assert listing["Condition"]["StringLike"] == {"s3:prefix": "uploads/10001/*"}

    grant_deposit(deposit, "10002", timedelta(minutes=30))
    deposit.write_bytes("_cryoet_assets/grants/notes.txt", b"not a grant")
    assert granted_prefixes(deposit) == ["10001", "10002"]
    assert granted_prefixes(open_bucket(url.rsplit("/", 1)[0], endpoint_url=endpoint)) == []


def test_grant_refuses_bad_ids_and_wildcard_prefixes(s3_bucket_url):
    url, endpoint = s3_bucket_url("up*loads")
    with pytest.raises(DepositAccessError, match="deposition id '../10001' is not a safe name"):
        grant_deposit(url, "../10001", timedelta(hours=1), endpoint_url=endpoint)
    with pytest.raises(DepositAccessError, match="IAM reads as wildcards"):
        grant_deposit(url, "10001", timedelta(hours=1), endpoint_url=endpoint)
    with pytest.raises(DepositAccessError, match="at most 7 days"):
        grant_deposit(url.replace("up*loads", "uploads"), "10001", timedelta(days=8), endpoint_url=endpoint)
    assert granted_prefixes(open_bucket(url.replace("up*loads", "uploads"), endpoint_url=endpoint)) == []


def test_presigned_post_uploads_into_the_granted_folder(s3_bucket_url):
    url, endpoint = s3_bucket_url("uploads")
    deposit = open_bucket(url, endpoint_url=endpoint)
    grant = grant_deposit(deposit, "10001", timedelta(hours=1))

    named = requests.post(grant.post["url"], data=grant.post["fields"],
                          files={"file": ("TS_001.mrc", b"tomogram bytes")}, timeout=30)
    assert named.status_code == 204, named.text
    keyed = requests.post(grant.post["url"], data={**grant.post["fields"], "key": "uploads/10001/runs/a.tsv"},
                          files={"file": ("a.tsv", b"run_name\n")}, timeout=30)
    assert keyed.status_code == 204, keyed.text
    assert deposit.read_bytes("10001/TS_001.mrc") == b"tomogram bytes"
    assert deposit.read_bytes("10001/runs/a.tsv") == b"run_name\n"


def test_moto_stores_a_form_post_outside_its_policy(s3_bucket_url):
    """Why the refusal is tested with the IAM policy: moto's server does not check POST policies.

    When this fails, moto has started to check them: test the presigned POST's refusal directly instead.
    """
    url, endpoint = s3_bucket_url("uploads")
    grant = grant_deposit(url, "10001", timedelta(hours=1), endpoint_url=endpoint)
    outside = requests.post(grant.post["url"], data={**grant.post["fields"], "key": "elsewhere/x.txt"},
                            files={"file": ("x.txt", b"x")}, timeout=30)
    assert outside.status_code == 204
    assert open_bucket(url.rsplit("/", 1)[0], endpoint_url=endpoint).exists("elsewhere/x.txt")


def test_iam_policy_lets_the_creator_upload_inside_the_prefix_only(enforcing_s3):
    endpoint, enforce = enforcing_s3
    bucket = f"test-{uuid.uuid4().hex[:20]}"
    _client("s3", endpoint).create_bucket(Bucket=bucket)
    grant = grant_deposit(f"s3://{bucket}/uploads", "10001", timedelta(hours=1), endpoint_url=endpoint)
    iam = _client("iam", endpoint)
    iam.create_user(UserName="creator")
    iam.put_user_policy(UserName="creator", PolicyName="deposit-10001",
                        PolicyDocument=json.dumps(grant.iam_policy))
    key = iam.create_access_key(UserName="creator")["AccessKey"]
    creator = _client("s3", endpoint, aws_access_key_id=key["AccessKeyId"],
                      aws_secret_access_key=key["SecretAccessKey"])
    enforce()

    creator.put_object(Bucket=bucket, Key="uploads/10001/TS_001/TS_001.mrc", Body=b"inside")
    upload = creator.create_multipart_upload(Bucket=bucket, Key="uploads/10001/big.mrc")
    creator.abort_multipart_upload(Bucket=bucket, Key="uploads/10001/big.mrc", UploadId=upload["UploadId"])
    for outside in ("uploads/10002/TS_001.mrc", "uploads/10001-old/TS_001.mrc", "uploads/TS_001.mrc",
                    "TS_001.mrc", "uploads/_cryoet_assets/grants/10002.json"):
        with pytest.raises(ClientError) as refused:
            creator.put_object(Bucket=bucket, Key=outside, Body=b"outside")
        assert refused.value.response["Error"]["Code"] == "AccessDenied", outside
    with pytest.raises(ClientError) as refused:
        creator.create_multipart_upload(Bucket=bucket, Key="uploads/10002/big.mrc")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as refused:  # uploads only: nothing is read back
        creator.get_object(Bucket=bucket, Key="uploads/10001/TS_001/TS_001.mrc")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as refused:  # the keys of the grant, not the test's own
        _client("s3", endpoint).put_object(Bucket=bucket, Key="uploads/10002/x", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"

    enforce_off = requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=30)
    enforce_off.raise_for_status()
    stored = sorted(o["Key"] for o in _client("s3", endpoint).list_objects_v2(Bucket=bucket)["Contents"])
    assert stored == ["uploads/10001/TS_001/TS_001.mrc", "uploads/_cryoet_assets/grants/10001.json"]
