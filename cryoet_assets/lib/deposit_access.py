"""Deposit access: what a data creator needs to upload into one deposition's folder of the deposit bucket.

A grant is a presigned POST policy and an IAM policy document, both scoped to `{prefix}/{deposition}/` of an
S3 deposit bucket, plus a record at `_cryoet_assets/grants/{deposition}.json` in that bucket. The deposit
sensor reads the records' names to know which folders of the deposit were granted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryoet_assets.lib.keys import UnsafeNameError, check_name
from cryoet_assets.lib.paths import STATE_PREFIX, state_path
from cryoet_assets.lib.storage import Bucket, S3Bucket, open_bucket

log = logging.getLogger(__name__)

GRANTS = "grants"
GRANTS_FOLDER = f"{STATE_PREFIX}/{GRANTS}"
# AWS Signature Version 4 signing keys, and so presigned requests, are valid for at most 7 days.
MAX_EXPIRY = timedelta(days=7)
DEFAULT_EXPIRY = "7d"
# Amazon S3 takes at most 5 GB in one PUT or form POST; larger objects need a multipart upload.
MAX_POST_BYTES = 5 * 1024**3
EXPIRY_PATTERN = re.compile(r"^(\d+)([dhm])$")
EXPIRY_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
# `*` and `?` are wildcards in IAM resource ARNs and `${` opens a policy variable: a prefix holding them
# would grant more than its folder.
ARN_SPECIAL = re.compile(r"[*?]|\$\{")


class DepositAccessError(ValueError):
    """A grant that cannot be issued as asked: a local deposit, a bad deposition id or expiry."""


@dataclass(frozen=True)
class DepositGrant:
    """What `grant_deposit` issued for one deposition.

    `key_prefix` is the S3 key prefix the creator may write under (`{prefix}/{deposition}/`, with its
    trailing '/'); relative to the deposit bucket's root, as ingestion configs name it in `source_prefix`,
    that folder is `deposition`. `post` is boto3's presigned POST (`url` and form `fields`), `iam_policy` the
    IAM policy document; both stop at `expires` (UTC, whole seconds).
    """

    deposition: str
    bucket: str
    key_prefix: str
    created: datetime
    expires: datetime
    post: dict[str, Any]
    iam_policy: dict[str, Any]
    record_uri: str
    endpoint_url: str | None = None

    def record(self) -> dict[str, str]:
        """The grant record stored in the deposit bucket: deposition, bucket, prefix, created, expires."""
        return {
            "deposition": self.deposition,
            "bucket": self.bucket,
            "prefix": self.key_prefix,
            "created": self.created.strftime(ISO_SECONDS),
            "expires": self.expires.strftime(ISO_SECONDS),
        }


def parse_expiry(text: str) -> timedelta:
    """A duration written as a whole number of days, hours or minutes: `7d`, `12h`, `30m`.

    Raises DepositAccessError for another form, zero, or more than 7 days: a presigned POST signed with
    AWS Signature Version 4 is valid for at most 7 days (its signing key's lifetime).
    """
    match = EXPIRY_PATTERN.match(text.strip().lower()) if isinstance(text, str) else None
    if not match:
        raise DepositAccessError(
            f"expiry {text!r} is not a duration: write a whole number of days, hours or minutes, "
            "e.g. 7d, 12h or 30m"
        )
    value = timedelta(**{EXPIRY_UNITS[match.group(2)]: int(match.group(1))})
    if value <= timedelta(0):
        raise DepositAccessError(f"expiry {text!r} must be longer than zero")
    if value > MAX_EXPIRY:
        raise DepositAccessError(
            f"expiry {text!r} is longer than 7 days, the longest a presigned POST signed with AWS Signature "
            "Version 4 stays valid; issue a new grant when it runs out"
        )
    return value


def check_deposition_id(deposition_id: object) -> str:
    """The deposition id as a folder name; DepositAccessError unless `keys.check_name` accepts it."""
    try:
        return check_name(deposition_id, what="deposition id")
    except UnsafeNameError as exc:
        raise DepositAccessError(str(exc)) from None


def grant_record_key(deposition_id: object) -> str:
    """Bucket-relative key of a deposition's grant record: `_cryoet_assets/grants/{deposition}.json`."""
    return state_path(GRANTS, check_deposition_id(deposition_id))


def grant_deposit(
    deposit: Bucket | str,
    deposition_id: object,
    expires: timedelta,
    *,
    endpoint_url: str | None = None,
) -> DepositGrant:
    """Issue upload access to `{prefix}/{deposition_id}/` of the S3 deposit bucket and record the grant.

    `deposit` is an S3 Bucket or an `s3://bucket[/prefix]` URL (`endpoint_url` then names a non-AWS S3
    endpoint). The presigned POST is signed with the credentials boto3 finds (environment, profile, role)
    for the region it is configured with, which must be the bucket's; it is valid for `expires` (at most
    7 days) or until those credentials expire, whichever is first. The record is written last: when
    anything fails, nothing is recorded.

    Raises DepositAccessError for a local deposit, a bad deposition id or expiry, or a deposit prefix with
    IAM wildcard characters; botocore's errors for missing credentials or a bucket that refuses the record.
    """
    bucket = open_bucket(deposit, endpoint_url=endpoint_url) if isinstance(deposit, str) else deposit
    if not isinstance(bucket, S3Bucket):
        raise DepositAccessError(
            f"deposit {bucket.uri('')} is a local folder: presigned uploads and IAM policies need an S3 "
            "bucket (s3://bucket/prefix)"
        )
    folder = check_deposition_id(deposition_id)
    if not isinstance(expires, timedelta) or not timedelta(0) < expires <= MAX_EXPIRY:
        raise DepositAccessError(f"expiry {expires!r} must be longer than zero and at most 7 days")
    if ARN_SPECIAL.search(bucket.prefix):
        raise DepositAccessError(
            f"deposit prefix {bucket.prefix!r} holds '*', '?' or '${{', which IAM reads as wildcards or "
            "variables: the policy would grant more than one folder"
        )
    key_prefix = f"{bucket.prefix}/{folder}/" if bucket.prefix else f"{folder}/"
    record_key = grant_record_key(folder)
    post = presigned_post(bucket, key_prefix, expires)
    expiry = signed_expiry(post)
    # The policy's expiration comes from the signer's clock: the grant starts `expires` before it.
    created = expiry - expires
    grant = DepositGrant(
        deposition=folder,
        bucket=bucket.bucket_name,
        key_prefix=key_prefix,
        created=created,
        expires=expiry,
        post=post,
        iam_policy=iam_policy(bucket.bucket_name, key_prefix, expires=expiry),
        record_uri=bucket.uri(record_key),
        endpoint_url=bucket.endpoint_url,
    )
    bucket.write_bytes(record_key, json.dumps(grant.record(), indent=2).encode() + b"\n")
    return grant


def presigned_post(bucket: S3Bucket, key_prefix: str, expires: timedelta) -> dict[str, Any]:
    """A presigned POST (SigV4) for any key starting with `key_prefix` of `bucket`, valid for `expires`.

    The key field is `{key_prefix}${filename}`: S3 substitutes the uploaded file's name unless the form sets
    another key. boto3 signs a `["starts-with", "$key", key_prefix]` condition for such a key; the signed
    policy is read back and a RuntimeError raised if its key conditions are anything else.
    """
    import boto3
    from botocore.config import Config

    path_style = {"addressing_style": "path"} if bucket.endpoint_url else None
    config = Config(signature_version="s3v4", s3=path_style)
    client = boto3.session.Session().client(
        "s3", endpoint_url=bucket.endpoint_url, region_name=bucket.region_name, config=config
    )
    post = client.generate_presigned_post(
        Bucket=bucket.bucket_name, Key=key_prefix + "${filename}", ExpiresIn=int(expires.total_seconds())
    )
    conditions = signed_policy(post)["conditions"]
    on_key = [c for c in conditions if (isinstance(c, list) and c[1:2] == ["$key"]) or
              (isinstance(c, dict) and "key" in c)]
    if on_key != [["starts-with", "$key", key_prefix]]:
        raise RuntimeError(
            f"the presigned POST's key conditions are {on_key}, not one starts-with {key_prefix!r}"
        )
    return post


def signed_policy(post: dict[str, Any]) -> dict[str, Any]:
    """The POST policy document a presigned POST carries (its base64 `policy` field), decoded."""
    return json.loads(base64.b64decode(post["fields"]["policy"]))


def signed_expiry(post: dict[str, Any]) -> datetime:
    """The `expiration` of a presigned POST's policy document as an aware UTC datetime."""
    return datetime.strptime(signed_policy(post)["expiration"], ISO_SECONDS).replace(tzinfo=UTC)


def iam_policy(bucket_name: str, key_prefix: str, *, expires: datetime) -> dict[str, Any]:
    """An IAM policy document allowing uploads under `key_prefix` of `bucket_name` and nothing else.

    s3:PutObject and s3:AbortMultipartUpload on `arn:aws:s3:::{bucket}/{key_prefix}*` (multipart uploads
    are PutObject requests in IAM), s3:ListBucket of the bucket only for listings under `key_prefix`, each
    until `expires` (`aws:CurrentTime`). Nothing may be read, deleted or listed elsewhere.
    """
    until = {"DateLessThan": {"aws:CurrentTime": expires.astimezone(UTC).strftime(ISO_SECONDS)}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "UploadIntoDeposition",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": f"arn:aws:s3:::{bucket_name}/{key_prefix}*",
                "Condition": until,
            },
            {
                "Sid": "ListDeposition",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket_name}",
                "Condition": {"StringLike": {"s3:prefix": f"{key_prefix}*"}, **until},
            },
        ],
    }


def granted_prefixes(deposit: Bucket) -> list[str]:
    """The deposit folders (relative to its root, no trailing '/') that grants were recorded for, sorted.

    One listing of `_cryoet_assets/grants/`, no object read: a record's name is its deposition id, which is
    its folder. Expired grants count: data uploaded while a grant held is still the creator's deposit.
    Names that are not `{safe name}.json` are skipped with a warning.
    """
    _, names = deposit.listdir(GRANTS_FOLDER)
    prefixes = []
    for name in names:
        stem, dot, extension = name.rpartition(".")
        try:
            if not dot or extension != "json":
                raise UnsafeNameError(f"{name!r} does not end in .json")
            prefixes.append(check_name(stem, what="grant record name"))
        except UnsafeNameError as exc:
            log.warning("ignoring %s: %s", deposit.uri(f"{GRANTS_FOLDER}/{name}"), exc)
    return sorted(prefixes)


def within_grants(source_prefix: str, granted: list[str]) -> bool:
    """True if the deposit folder `source_prefix` is one of the `granted` folders or lies inside one."""
    folder = source_prefix.strip("/")
    return any(folder == prefix or folder.startswith(prefix + "/") for prefix in granted)


def grants_version(granted: list[str]) -> str:
    """A short digest of a set of granted folders: it changes when a grant is added or removed."""
    return hashlib.sha256("\n".join(sorted(granted)).encode()).hexdigest()[:16]


def upload_instructions(grant: DepositGrant) -> str:
    """The text `cryoet-assets grant-deposit` prints: the presigned POST and IAM policy as JSON, examples
    of uploading with curl, Python `requests` and boto3, and the expiry."""
    post_json = json.dumps(grant.post, indent=2)
    example_key = f"{grant.key_prefix}TS_001/TS_001.mrc"
    curl = [f"curl --fail-with-body {shlex.quote(grant.post['url'])}"]
    fields = [(name, value) for name, value in grant.post["fields"].items() if name != "key"]
    curl += [f"  --form-string {shlex.quote(f'{name}={value}')}" for name, value in fields]
    curl += [f"  --form-string {shlex.quote(f'key={example_key}')}", "  -F 'file=@TS_001.mrc'"]
    endpoint = f", endpoint_url={grant.endpoint_url!r}" if grant.endpoint_url else ""
    expires = grant.expires.strftime(ISO_SECONDS)
    return "\n".join([
        f"Deposition {grant.deposition}: upload into s3://{grant.bucket}/{grant.key_prefix} until {expires} "
        f"(UTC), and nowhere else.",
        f"Grant recorded in {grant.record_uri}",
        "",
        f"Presigned POST (form upload of one file per request, at most {MAX_POST_BYTES // 1024**3} GB; set "
        f"`key` to any key starting with {grant.key_prefix}, or leave it as is to use the uploaded file's "
        "name; the `file` field goes last):",
        post_json,
        "",
        "IAM policy document (attach it to the data creator's user or role instead, for multipart uploads of "
        f"larger files; it also ends at {expires}):",
        json.dumps(grant.iam_policy, indent=2),
        "",
        "Upload one file with curl:",
        " \\\n".join(curl),
        "",
        "Upload a folder with Python and the presigned POST:",
        "  import pathlib, requests",
        f"  post = {json.dumps(grant.post)}",
        "  root = pathlib.Path('my_deposit')",
        "  for path in sorted(p for p in root.rglob('*') if p.is_file()):",
        f"      key = {grant.key_prefix!r} + path.relative_to(root).as_posix()",
        "      with path.open('rb') as handle:",
        "          response = requests.post(post['url'], data={**post['fields'], 'key': key},",
        "                                   files={'file': (path.name, handle)})",
        "      response.raise_for_status()",
        "",
        "Upload a folder with boto3 and credentials holding the IAM policy:",
        "  import pathlib, boto3",
        f"  s3 = boto3.client('s3'{endpoint})",
        "  root = pathlib.Path('my_deposit')",
        "  for path in sorted(p for p in root.rglob('*') if p.is_file()):",
        f"      key = {grant.key_prefix!r} + path.relative_to(root).as_posix()",
        f"      s3.upload_file(str(path), {grant.bucket!r}, key)",
        "",
        "When every file is up, upload an empty _DONE file last into the folder the ingestion config's "
        "source_prefix names: that starts ingestion.",
        f"Expires: {expires} (UTC). Issue a new grant to extend it.",
    ])
