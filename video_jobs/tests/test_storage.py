"""S3 access against moto's server: HeadObject classified (there, missing, unavailable), the streaming
download (sha256, IfMatch, a body cut short), artifacts, presigned uploads (and what a signature-checking S3
server, s3rver, does with them), each job's own bucket and configuration faults, and the bucket checks."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.config import Config as BotoConfig
from django.test import override_settings
from django.utils import timezone

from video_jobs import storage
from video_jobs.models import MetricCounter

from .conftest import BUCKET
from .jobs import s3_down
from .presigned import signed_headers
from .s3_proxy import FaultyS3Proxy
from .s3rver import S3rver


def a_key() -> str:
    return storage.video_key(uuid.uuid4())


def put(s3: Any, key: str, data: bytes, content_type: str = "video/mp4") -> str:
    """Store an object as a client's upload would; returns its ETag."""
    return str(s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType=content_type)["ETag"])


# --- keys ---------------------------------------------------------------------------------------------------


def test_keys_are_made_by_the_server_from_the_job_id_with_artifacts_beside_the_video() -> None:
    assert storage.video_key("1234") == "videos/1234/source"
    assert storage.artifact_key("1234", "poster.jpg") == "videos/1234/poster.jpg"


# --- head: what verification sees -----------------------------------------------------------------------


def test_head_answers_the_size_etag_and_content_type_of_an_object(s3: Any) -> None:
    key = a_key()
    etag = put(s3, key, b"x" * 1234)

    info = storage.head(bucket=BUCKET, key=key)
    assert info == storage.ObjectInfo(size=1234, etag=etag, content_type="video/mp4")


def test_head_of_a_key_with_no_object_raises_object_missing() -> None:
    with pytest.raises(storage.ObjectMissing, match="does not exist"):
        storage.head(bucket=BUCKET, key=a_key())


@pytest.mark.parametrize("status", [403, 500, 503])
def test_any_other_answer_to_head_is_unavailable_never_missing(
    s3: Any, s3_proxy: FaultyS3Proxy, status: int
) -> None:
    # 403 is what S3 answers for a missing object when the caller lacks s3:ListBucket: a configuration
    # fault, never a reason to fail a user's job.
    key = a_key()
    put(s3, key, b"x")

    with (
        s3_proxy.failing("HEAD", status=status),
        pytest.raises(storage.StorageUnavailable, match=str(status)),
    ):
        storage.head(bucket=BUCKET, key=key)


def test_an_unreachable_s3_is_unavailable() -> None:
    with s3_down(), pytest.raises(storage.StorageUnavailable, match="unreachable"):
        storage.head(bucket=BUCKET, key=a_key())


def test_timed_collects_the_duration_of_every_s3_call_in_its_block(s3: Any) -> None:
    key = a_key()
    put(s3, key, b"x")
    storage.head(bucket=BUCKET, key=key)  # outside the block: not collected

    with storage.timed() as durations:
        storage.head(bucket=BUCKET, key=key)
        with pytest.raises(storage.ObjectMissing):
            storage.head(bucket=BUCKET, key=a_key())

    assert len(durations) == 3  # the missing key's HeadObject is followed by a HeadBucket
    assert all(seconds > 0 for seconds in durations)


# --- download: what the worker reads ----------------------------------------------------------------------


def test_a_download_streams_the_object_in_bounded_chunks_and_hashes_it_on_the_way(s3: Any) -> None:
    data = os.urandom(2 * storage.DOWNLOAD_CHUNK_BYTES + 12345)
    key = a_key()
    put(s3, key, data)
    destination = io.BytesIO()
    written: list[int] = []

    download = storage.download(bucket=BUCKET, key=key, destination=destination, on_progress=written.append)

    assert download == storage.Download(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    assert destination.getvalue() == data
    # Never more than a chunk in memory at once: progress moves at most a chunk at a time.
    steps = [later - earlier for earlier, later in zip([0, *written], written, strict=False)]
    assert len(written) >= 3
    assert all(0 < step <= storage.DOWNLOAD_CHUNK_BYTES for step in steps)
    assert written[-1] == len(data)


def test_a_download_with_the_etag_seen_at_verification_reads_that_object_and_no_other(s3: Any) -> None:
    key = a_key()
    verified = put(s3, key, b"a" * 1000)
    assert storage.download(bucket=BUCKET, key=key, destination=io.BytesIO(), if_match=verified).size == 1000

    put(s3, key, b"b" * 1000)  # same size, other bytes: only the ETag tells
    destination = io.BytesIO()
    with pytest.raises(storage.ObjectChanged, match="changed after verification"):
        storage.download(bucket=BUCKET, key=key, destination=destination, if_match=verified)
    assert destination.getvalue() == b""


@pytest.mark.django_db
def test_a_download_of_a_missing_object_raises_object_missing_and_records_no_metric() -> None:
    # What the 404 means for the job (and its metric) is the worker's business, not storage's.
    with pytest.raises(storage.ObjectMissing):
        storage.download(bucket=BUCKET, key=a_key(), destination=io.BytesIO())

    assert not MetricCounter.objects.exists()


def test_a_download_cut_short_is_unavailable_so_worth_another_try(s3: Any, s3_proxy: FaultyS3Proxy) -> None:
    key = a_key()
    put(s3, key, b"x" * 100_000)
    s3_proxy.truncate_next("GET")

    with pytest.raises(storage.StorageUnavailable):
        storage.download(bucket=BUCKET, key=key, destination=io.BytesIO())

    # The next try gets it all.
    assert storage.download(bucket=BUCKET, key=key, destination=io.BytesIO()).size == 100_000


def test_s3_server_errors_on_download_are_unavailable(s3: Any, s3_proxy: FaultyS3Proxy) -> None:
    key = a_key()
    put(s3, key, b"x" * 1000)

    with s3_proxy.failing("GET", status=503), pytest.raises(storage.StorageUnavailable, match="503"):
        storage.download(bucket=BUCKET, key=key, destination=io.BytesIO())


# --- artifacts ----------------------------------------------------------------------------------------------


def test_an_artifact_is_stored_with_its_content_type(s3: Any) -> None:
    key = storage.artifact_key(uuid.uuid4(), "poster.jpg")

    storage.put_artifact(bucket=BUCKET, key=key, data=b"\xff\xd8 a poster", content_type="image/jpeg")

    stored = s3.get_object(Bucket=BUCKET, Key=key)
    assert (stored["ContentType"], stored["Body"].read()) == ("image/jpeg", b"\xff\xd8 a poster")


# --- presigned uploads: bound at the edge -----------------------------------------------------------------


def digest_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@override_settings(VIDEO_JOBS_UPLOAD_URL_EXPIRES=600)
def test_a_presigned_upload_is_a_short_lived_sigv4_put_signing_its_exact_size_type_and_checksum() -> None:
    key = a_key()
    data = b"v" * 321
    before = timezone.now().replace(microsecond=0)

    upload = storage.presign_upload(
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
    upload = storage.presign_upload(bucket=BUCKET, key=a_key(), content_length=5, content_type="video/mp4")

    assert upload.headers == {"Content-Type": "video/mp4", "Content-Length": "5"}
    assert signed_headers(upload.url) == {"host", "content-type", "content-length"}


def test_the_same_signing_serves_a_multipart_part_of_an_exact_size() -> None:
    part = b"p" * 1000
    upload = storage.presign_upload(
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
        storage.presign_upload(bucket=BUCKET, key=a_key(), content_length=5, content_type="video/mp4")
    assert [record.levelname for record in caplog.records] == ["ERROR"]


# s3rver checks SigV4 signatures (moto checks none), so these show what S3 itself does with a presigned PUT.


def put_with(upload: storage.PresignedUpload, data: bytes, **headers: str | None) -> int:
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


def presign_for(data: bytes, *, declared: bytes | None = None) -> tuple[str, storage.PresignedUpload]:
    declared = data if declared is None else declared
    key = a_key()
    upload = storage.presign_upload(
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


# --- each job's own bucket: only a missing key is "missing" -----------------------------------------------


def a_missing_bucket() -> str:
    return f"cricksy-no-such-bucket-{uuid.uuid4().hex[:12]}"


def test_a_key_absent_from_an_existing_bucket_is_missing_without_an_error_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(storage.ObjectMissing, match="does not exist"):
        storage.head(bucket=BUCKET, key=a_key())
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


@pytest.mark.parametrize("call", ["head", "download", "put_artifact"])
def test_a_bucket_that_does_not_exist_is_a_configuration_fault_never_a_missing_object(
    caplog: pytest.LogCaptureFixture, call: str
) -> None:
    bucket, key = a_missing_bucket(), a_key()
    calls = {
        "head": lambda: storage.head(bucket=bucket, key=key),
        "download": lambda: storage.download(bucket=bucket, key=key, destination=io.BytesIO()),
        "put_artifact": lambda: storage.put_artifact(bucket=bucket, key=key, data=b"x", content_type="a/b"),
    }

    with pytest.raises(storage.StorageMisconfigured) as raised:
        calls[call]()

    assert not isinstance(raised.value, storage.ObjectMissing)
    assert isinstance(raised.value, storage.StorageUnavailable)  # transient for whoever asked
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 1
    assert bucket in errors[0]


def test_every_call_names_the_bucket_it_is_given_not_the_setting(s3: Any) -> None:
    key = a_key()
    with override_settings(AWS_STORAGE_BUCKET_NAME=a_missing_bucket()):
        storage.put_artifact(bucket=BUCKET, key=key, data=b"abc", content_type="a/b")
        assert storage.head(bucket=BUCKET, key=key).size == 3
        assert storage.download(bucket=BUCKET, key=key, destination=io.BytesIO()).size == 3
        upload = storage.presign_upload(bucket=BUCKET, key=key, content_length=3)
    assert urlsplit(upload.url).path == f"/{BUCKET}/{key}"


@pytest.mark.parametrize("status", [400, 401, 403])
def test_other_client_errors_are_configuration_faults_logged_as_errors(
    s3: Any, s3_proxy: FaultyS3Proxy, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    key = a_key()
    put(s3, key, b"x")

    with (
        s3_proxy.failing("GET", status=status),
        pytest.raises(storage.StorageMisconfigured, match=str(status)),
    ):
        storage.download(bucket=BUCKET, key=key, destination=io.BytesIO())
    assert [record.levelname for record in caplog.records] == ["ERROR"]


def test_server_errors_are_transient_and_not_configuration_faults(
    s3: Any, s3_proxy: FaultyS3Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    key = a_key()
    put(s3, key, b"x")

    with s3_proxy.failing("GET", status=503), pytest.raises(storage.StorageUnavailable) as raised:
        storage.download(bucket=BUCKET, key=key, destination=io.BytesIO())
    assert not isinstance(raised.value, storage.StorageMisconfigured)
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


# --- the bucket ---------------------------------------------------------------------------------------------


def test_ensure_bucket_creates_a_missing_bucket_once() -> None:
    with override_settings(AWS_STORAGE_BUCKET_NAME=a_missing_bucket()):
        with pytest.raises(storage.StorageMisconfigured):
            storage.check_bucket()

        assert storage.ensure_bucket() is True
        assert storage.ensure_bucket() is False
        storage.check_bucket()


def test_check_bucket_reports_an_unreachable_s3_as_unavailable() -> None:
    with s3_down(), pytest.raises(storage.StorageUnavailable):
        storage.check_bucket()


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_the_browser_upload_rule_lets_a_page_on_its_origin_upload_and_read_etags(
    s3: Any, method: str
) -> None:
    origin = "http://127.0.0.1:8000"
    storage.allow_browser_uploads([origin])
    try:
        (rule,) = s3.get_bucket_cors(Bucket=BUCKET)["CORSRules"]
        assert (rule["AllowedOrigins"], rule["ExposeHeaders"]) == ([origin], ["ETag"])
        preflight = urllib.request.Request(
            f"{storage.client().meta.endpoint_url}/{BUCKET}/{a_key()}",
            method="OPTIONS",
            headers={"Origin": origin, "Access-Control-Request-Method": method},
        )
        with urllib.request.urlopen(preflight, timeout=10) as response:
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert method in response.headers["Access-Control-Allow-Methods"]
    finally:
        s3.delete_bucket_cors(Bucket=BUCKET)
