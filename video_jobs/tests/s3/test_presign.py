"""Presigned URLs: what each one signs (SigV4, the exact size, type and checksum, a form POST's policy), and
what a real object store (SeaweedFS, ``strict_s3``) does with an upload that differs from the declaration."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import time_machine
from botocore.config import Config as BotoConfig
from django.test import override_settings
from django.utils import timezone

from video_jobs.s3 import presign, storage
from video_jobs.s3.seaweedfs import SeaweedFS

from ..support.presigned import signed_headers
from ..support.s3_config import BUCKET


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
        query={"partNumber": "7", "uploadId": "upload-1"},
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


# On SeaweedFS, which checks SigV4 signatures, lengths and checksums as S3 does (moto checks none): what the
# store itself does with a presigned upload.


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


def assert_nothing_stored(key: str) -> None:
    with pytest.raises(storage.ObjectMissing):
        storage.head(bucket=BUCKET, key=key)


def test_s3_stores_exactly_the_declared_upload(strict_s3: SeaweedFS) -> None:
    data = os.urandom(4096)
    key, upload = presign_for(data)

    assert put_with(upload, data) == 200

    assert storage.head(bucket=BUCKET, key=key).size == 4096


@pytest.mark.parametrize("size", [4095, 4097, 1, 10 * 4096])
def test_s3_refuses_a_body_of_another_size_before_storing_it(strict_s3: SeaweedFS, size: int) -> None:
    key, upload = presign_for(b"d" * 4096)

    assert put_with(upload, b"d" * size) == 403

    assert_nothing_stored(key)


def test_s3_refuses_other_bytes_of_the_declared_size_as_a_bad_digest(strict_s3: SeaweedFS) -> None:
    # The signed checksum header is the declared one, and the store hashes the bytes it receives.
    declared = os.urandom(2048)
    key, upload = presign_for(declared)
    sent = {name: value for name, value in upload.headers.items() if name != "Content-Length"}

    response = requests.put(upload.url, data=os.urandom(2048), headers=sent, timeout=10)

    assert response.status_code == 400
    assert "<Code>BadDigest</Code>" in response.text
    assert_nothing_stored(key)


@pytest.mark.parametrize(
    "checksum",
    [None, digest_base64(b"other bytes"), "not base64 at all"],
    ids=["left out", "of other bytes", "garbage"],
)
def test_s3_refuses_an_upload_without_the_declared_checksum(
    strict_s3: SeaweedFS, checksum: str | None
) -> None:
    # The checksum header is signed, so a client cannot drop it or swap in the checksum of other bytes.
    data = os.urandom(2048)
    key, upload = presign_for(data)

    assert put_with(upload, data, **{"x-amz-checksum-sha256": checksum}) == 403

    assert_nothing_stored(key)


def test_s3_refuses_a_url_used_for_another_key_or_type(strict_s3: SeaweedFS) -> None:
    data = os.urandom(1024)
    key, upload = presign_for(data)
    elsewhere = dataclasses.replace(upload, url=upload.url.replace(key, a_key()))

    assert put_with(elsewhere, data) == 403
    assert put_with(upload, data, Content_Type="text/html") == 403
    assert put_with(upload, data) == 200


@override_settings(VIDEO_JOBS_UPLOAD_URL_EXPIRES=60)
def test_s3_refuses_an_expired_url(strict_s3: SeaweedFS) -> None:
    data = os.urandom(1024)
    # Signed two minutes ago for one minute (the store's clock is the real one).
    with time_machine.travel(timezone.now() - timedelta(minutes=2)):
        key, upload = presign_for(data)

    assert put_with(upload, data) == 403

    assert_nothing_stored(key)


# --- a browser's form POST, held to its policy by the store -------------------------------------------------


def post_form(post: presign.PresignedPost, data: bytes, **fields: str) -> requests.Response:
    return requests.post(
        post.url, data={**post.fields, **fields}, files={"file": ("v.mp4", data)}, timeout=10
    )


def test_s3_stores_a_form_post_within_its_policy(strict_s3: SeaweedFS) -> None:
    key = a_key()
    post = presign.presign_post(bucket=BUCKET, key=key, content_length=300, content_type="video/mp4")

    assert post.url == f"{strict_s3.endpoint}/{BUCKET}/"  # the form goes to the bucket's own URL
    assert post_form(post, b"p" * 300).status_code == 201

    stored = storage.head(bucket=BUCKET, key=key)
    assert (stored.size, stored.content_type) == (300, "video/mp4")


@pytest.mark.parametrize("size", [299, 301])
def test_s3_refuses_a_form_post_of_another_size(strict_s3: SeaweedFS, size: int) -> None:
    key = a_key()
    post = presign.presign_post(bucket=BUCKET, key=key, content_length=300, content_type="video/mp4")

    response = post_form(post, b"p" * size)

    assert response.status_code == 400
    assert "EntityToo" in response.text  # EntityTooSmall / EntityTooLarge
    assert_nothing_stored(key)


def test_s3_refuses_a_form_post_for_another_key_or_type_or_a_changed_policy(strict_s3: SeaweedFS) -> None:
    key = a_key()
    post = presign.presign_post(bucket=BUCKET, key=key, content_length=300, content_type="video/mp4")
    policy = json.loads(base64.b64decode(post.fields["policy"]))
    policy["conditions"] = [
        ["content-length-range", 1, 10**9] if isinstance(c, list) else c for c in policy["conditions"]
    ]
    widened = base64.b64encode(json.dumps(policy).encode()).decode()
    other = a_key()

    assert post_form(post, b"p" * 300, key=other).status_code == 403
    assert post_form(post, b"p" * 300, **{"Content-Type": "text/html"}).status_code == 403
    assert post_form(post, b"p" * 5000, policy=widened).status_code == 403

    assert_nothing_stored(key)
    assert_nothing_stored(other)
