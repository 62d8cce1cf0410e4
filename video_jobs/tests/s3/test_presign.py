"""Presigned URLs: what each one signs (SigV4, the exact size, type and checksum), and what a
signature-checking S3 server (s3rver) does with an upload that differs from the declaration."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.config import Config as BotoConfig
from django.test import override_settings
from django.utils import timezone

from video_jobs.s3 import presign, storage

from ..support.presigned import signed_headers
from ..support.s3_config import BUCKET
from ..support.s3rver import S3rver


def a_key() -> str:
    return storage.video_key(uuid.uuid4())


# --- presigned uploads: bound at the edge -----------------------------------------------------------------


def digest_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@override_settings(VIDEO_JOBS_UPLOAD_URL_EXPIRES=600)
def test_a_presigned_upload_is_a_short_lived_sigv4_put_signing_its_exact_size_type_and_checksum() -> None:
    key = a_key()
    data = b"v" * 321
    before = timezone.now().replace(microsecond=0)

    upload = presign.presign_upload(
        bucket=BUCKET,
        key=key,
        content_length=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="video/webm",
    )

    assert upload.method == "PUT"
    assert upload.headers == {
        "Content-Type": "video/webm",
        "Content-Length": "321",
        "x-amz-checksum-sha256": digest_base64(data),
    }
    assert signed_headers(upload.url) == {"host", "content-type", "content-length", "x-amz-checksum-sha256"}
    url = urlsplit(upload.url)
    query = parse_qs(url.query)
    assert url.path == f"/{BUCKET}/{key}"
    assert query["X-Amz-Expires"] == ["600"]
    # When S3 stops accepting it: the signing time in the URL plus its lifetime.
    assert before + timedelta(seconds=600) <= upload.expires_at <= timezone.now() + timedelta(seconds=600)


def test_without_a_declared_checksum_the_url_still_binds_the_exact_size() -> None:
    upload = presign.presign_upload(bucket=BUCKET, key=a_key(), content_length=5, content_type="video/mp4")

    assert upload.headers == {"Content-Type": "video/mp4", "Content-Length": "5"}
    assert signed_headers(upload.url) == {"host", "content-type", "content-length"}


def test_the_same_signing_serves_a_multipart_part_of_an_exact_size() -> None:
    part = b"p" * 1000
    upload = presign.presign_upload(
        bucket=BUCKET,
        key=a_key(),
        operation="upload_part",
        params={"UploadId": "upload-1", "PartNumber": 7},
        content_length=len(part),
        sha256=hashlib.sha256(part).hexdigest(),
    )

    assert upload.headers == {"Content-Length": "1000", "x-amz-checksum-sha256": digest_base64(part)}
    assert signed_headers(upload.url) == {"host", "content-length", "x-amz-checksum-sha256"}
    query = parse_qs(urlsplit(upload.url).query)
    assert (query["uploadId"], query["partNumber"]) == (["upload-1"], ["7"])


def test_a_client_that_would_sign_sigv2_urls_issues_none(caplog: pytest.LogCaptureFixture) -> None:
    # botocore's default for a us-east-1 client with its own endpoint: query-string SigV2, which can bind
    # neither the size nor the checksum.
    with (
        override_settings(AWS_S3_CLIENT_CONFIG=BotoConfig(s3={"addressing_style": "path"})),
        pytest.raises(storage.StorageMisconfigured, match="would not bind the upload"),
    ):
        presign.presign_upload(bucket=BUCKET, key=a_key(), content_length=5, content_type="video/mp4")
    assert [record.levelname for record in caplog.records] == ["ERROR"]


# s3rver checks SigV4 signatures (moto checks none), so these show what S3 itself does with a presigned PUT.


def put_with(upload: presign.PresignedUpload, data: bytes, **headers: str | None) -> int:
    """PUT ``data`` to the presigned URL as an HTTP client would (Content-Length is always the body's own),
    with ``upload.headers`` changed by ``headers`` (None drops one). Returns the HTTP status."""
    sent = {name: value for name, value in upload.headers.items() if name != "Content-Length"}
    for name, value in headers.items():
        sent.pop(name.replace("_", "-"), None)
        if value is not None:
            sent[name.replace("_", "-")] = value
    request = urllib.request.Request(upload.url, data=data, method=upload.method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def presign_for(data: bytes, *, declared: bytes | None = None) -> tuple[str, presign.PresignedUpload]:
    declared = data if declared is None else declared
    key = a_key()
    upload = presign.presign_upload(
        bucket=BUCKET,
        key=key,
        content_length=len(declared),
        sha256=hashlib.sha256(declared).hexdigest(),
        content_type="video/mp4",
    )
    return key, upload


def test_s3_stores_exactly_the_declared_upload(signature_checking_s3: S3rver) -> None:
    data = os.urandom(4096)
    key, upload = presign_for(data)

    assert put_with(upload, data) == 200

    assert storage.head(bucket=BUCKET, key=key).size == 4096


@pytest.mark.parametrize("size", [4095, 4097, 1, 10 * 4096])
def test_s3_refuses_a_body_of_another_size_before_storing_it(
    signature_checking_s3: S3rver, size: int
) -> None:
    key, upload = presign_for(b"d" * 4096)

    assert put_with(upload, b"d" * size) == 403

    with pytest.raises(storage.ObjectMissing):
        storage.head(bucket=BUCKET, key=key)


@pytest.mark.parametrize(
    "checksum",
    [None, digest_base64(b"other bytes"), "not base64 at all"],
    ids=["left out", "of other bytes", "garbage"],
)
def test_s3_refuses_an_upload_without_the_declared_checksum(
    signature_checking_s3: S3rver, checksum: str | None
) -> None:
    # The checksum header is signed, so a client cannot drop it or swap in the checksum of other bytes.
    # (Real S3 also compares it with the bytes it receives, 400 BadDigest; s3rver does not, so that part
    # is S3's own promise, and the worker still checks the declared sha256 after its download.)
    data = os.urandom(2048)
    key, upload = presign_for(data)

    assert put_with(upload, data, **{"x-amz-checksum-sha256": checksum}) == 403

    with pytest.raises(storage.ObjectMissing):
        storage.head(bucket=BUCKET, key=key)


def test_s3_refuses_a_url_used_for_another_key_or_type(signature_checking_s3: S3rver) -> None:
    data = os.urandom(1024)
    key, upload = presign_for(data)
    elsewhere = dataclasses.replace(upload, url=upload.url.replace(key, a_key()))

    assert put_with(elsewhere, data) == 403
    assert put_with(upload, data, Content_Type="text/html") == 403
    assert put_with(upload, data) == 200
