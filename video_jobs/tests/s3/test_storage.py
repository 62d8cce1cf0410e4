"""S3 access against moto's server: HeadObject classified (there, missing, unavailable), the streaming
download (sha256, IfMatch, a body cut short), artifacts, each job's own bucket and configuration faults,
and the bucket check (presigned URLs: test_presign.py; the bucket's creation and rules:
test_bucket_setup.py)."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import override_settings

from video_jobs.models import MetricCounter
from video_jobs.s3 import presign, storage

from ..support.s3_config import BUCKET, a_missing_bucket, s3_down
from ..support.s3_proxy import FaultyS3Proxy


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


# --- each job's own bucket: only a missing key is "missing" -----------------------------------------------


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
        upload = presign.presign_upload(bucket=BUCKET, key=key, content_length=3)
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


def test_check_bucket_reports_an_unreachable_s3_as_unavailable() -> None:
    with s3_down(), pytest.raises(storage.StorageUnavailable):
        storage.check_bucket()
