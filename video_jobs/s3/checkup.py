"""What ``manage.py check_storage`` asks of the configured bucket, in the order a deployment needs it: the
bucket answers; these credentials can put, head and delete under the videos prefix; the browser CORS rule is
there; the store itself refuses a presigned PUT of other bytes or another length; a lifecycle rule aborts
incomplete multipart uploads. Each answer is a ``Finding`` in plain words, with the fix when there is one.

A failure means the service cannot work as it is (nothing can be stored, or the coaches' page cannot
upload); a warning means it works with less protection than it could have. Every probe object lives under
``videos/check-storage-<random>/`` and is deleted before the check ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from . import bucket_setup, presign, storage


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILURE = "FAILED"


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str
    fix: str = ""


def _answer(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{status} {error.get('Code', '')}".strip()
    return str(exc)


def _aws(*args: str) -> str:
    """The aws CLI command that does it, against this endpoint when it is not AWS's own."""
    endpoint = ("--endpoint-url", settings.AWS_S3_ENDPOINT_URL) if settings.AWS_S3_ENDPOINT_URL else ()
    return " ".join(shlex.quote(arg) for arg in ("aws", "s3api", *endpoint, *args))


def check(*, origins: list[str]) -> Iterator[Finding]:
    """Probe the configured bucket; stops after a failure that leaves nothing else to ask."""
    bucket = storage.bucket_name()
    s3 = storage.client()
    try:
        s3.head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        yield Finding(
            Level.FAILURE,
            f"the bucket {bucket!r} does not answer ({_answer(exc)})",
            "check AWS_STORAGE_BUCKET_NAME, AWS_S3_ENDPOINT_URL, AWS_S3_REGION_NAME and the credentials",
        )
        return
    yield Finding(Level.OK, f"the bucket {bucket!r} answers")
    folder = f"{storage.VIDEOS_PREFIX}check-storage-{uuid.uuid4().hex}/"
    rights = _object_rights(s3, bucket, folder)
    yield rights
    if rights.level == Level.FAILURE:
        return
    yield _cors(s3, bucket, origins)
    yield from _refusals(s3, bucket, folder)
    yield _lifecycle(s3, bucket)


def _object_rights(s3: Any, bucket: str, folder: str) -> Finding:
    key, body = f"{folder}probe", b"cricksy storage check"
    steps: tuple[tuple[str, Callable[[], Any]], ...] = (
        ("put", lambda: s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/plain")),
        ("head", lambda: s3.head_object(Bucket=bucket, Key=key)),
        ("delete", lambda: s3.delete_object(Bucket=bucket, Key=key)),
    )
    for name, step in steps:
        try:
            step()
        except (ClientError, BotoCoreError) as exc:
            return Finding(
                Level.FAILURE,
                f"these credentials cannot {name} objects under {storage.VIDEOS_PREFIX} ({_answer(exc)})",
                "grant the IAM policy in docs/storage.md",
            )
    return Finding(
        Level.OK, f"these credentials can put, head and delete objects under {storage.VIDEOS_PREFIX}"
    )


def _cors(s3: Any, bucket: str, origins: list[str]) -> Finding:
    needed = origins or ["https://your-site.example"]
    rule = bucket_setup.browser_upload_cors_rule(needed)
    fix = "add the browser upload rule (replaces the bucket's CORS rules):\n" + _aws(
        "put-bucket-cors", "--bucket", bucket, "--cors-configuration", json.dumps({"CORSRules": [rule]})
    )
    try:
        rules = s3.get_bucket_cors(Bucket=bucket).get("CORSRules", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchCORSConfiguration":
            return Finding(Level.FAILURE, f"the bucket's CORS rules cannot be read ({_answer(exc)})", fix)
        rules = []
    for candidate in rules:
        methods = set(candidate.get("AllowedMethods", []))
        headers = {header.lower() for header in candidate.get("AllowedHeaders", [])}
        exposed = {header.lower() for header in candidate.get("ExposeHeaders", [])}
        allowed = set(candidate.get("AllowedOrigins", []))
        if (
            {"PUT", "POST"} <= methods
            and ("*" in headers or {"content-type", "x-amz-checksum-sha256"} <= headers)
            and "etag" in exposed
            and ("*" in allowed or set(origins) <= allowed)
        ):
            return Finding(
                Level.OK, f"the browser upload CORS rule is there (origins: {', '.join(sorted(allowed))})"
            )
    for_whom = f" for {', '.join(origins)}" if origins else ""
    return Finding(
        Level.FAILURE,
        f"no CORS rule lets a browser upload{for_whom} (PUT and POST, any header, ETag exposed): "
        "the coaches' page and other browser uploads will fail",
        fix,
    )


def _put(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), ""
    except urllib.error.HTTPError as exc:
        body = exc.read(2000).decode(errors="replace")
        code = body.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in body else ""
        return int(exc.code), code


def _refusals(s3: Any, bucket: str, folder: str) -> Iterator[Finding]:
    declared = os.urandom(1024)
    for kind, sent, why in (
        ("other bytes of the declared size", os.urandom(1024), "checksums"),
        ("a body of another length", declared + b"!", "signed lengths"),
    ):
        key = f"{folder}{kind.split()[0]}-{len(sent)}"
        upload = presign.presign_upload(
            bucket=bucket,
            key=key,
            content_length=len(declared),
            sha256=hashlib.sha256(declared).hexdigest(),
            content_type="video/mp4",
        )
        headers = {name: value for name, value in upload.headers.items() if name != "Content-Length"}
        try:
            status, code = _put(upload.url, sent, headers)
        except OSError as exc:
            yield Finding(Level.WARNING, f"a presigned PUT could not be tried here ({exc})")
            return
        if status >= 400:
            answer = f"{status} {code}".strip()
            yield Finding(Level.OK, f"the store refuses a presigned PUT of {kind} ({answer})")
            continue
        s3.delete_object(Bucket=bucket, Key=key)
        yield Finding(
            Level.WARNING,
            f"this store accepted a presigned PUT of {kind}: it does not verify {why}; "
            + (
                "the worker's SHA-256 check still does"
                if why == "checksums"
                else "the HeadObject gate still refuses an upload of another size"
            ),
        )


def _lifecycle(s3: Any, bucket: str) -> Finding:
    rule = bucket_setup.abort_incomplete_uploads_rule()
    fix = "add it (this replaces the bucket's lifecycle rules: merge any you have):\n" + _aws(
        "put-bucket-lifecycle-configuration",
        "--bucket",
        bucket,
        "--lifecycle-configuration",
        json.dumps({"Rules": [rule]}),
    )
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            return Finding(
                Level.WARNING, f"the bucket's lifecycle rules cannot be read ({_answer(exc)})", fix
            )
        rules = []
    for candidate in rules:
        prefix = candidate.get("Filter", {}).get("Prefix", candidate.get("Prefix", ""))
        days = candidate.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation")
        if candidate.get("Status") == "Enabled" and days and storage.VIDEOS_PREFIX.startswith(prefix):
            return Finding(
                Level.OK, f"a lifecycle rule aborts incomplete multipart uploads after {days} day(s)"
            )
    return Finding(
        Level.WARNING,
        "no lifecycle rule aborts incomplete multipart uploads: the workers' sweep aborts those of their "
        "jobs, but parts of uploads nobody finishes cost storage while no worker runs",
        fix,
    )
