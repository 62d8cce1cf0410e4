"""S3 access for video jobs: the client, verification (HeadObject), downloads, artifacts, deletion and
listing (presigned URLs: ``presign``; the bucket's own set-up and rules: ``bucket_setup``).

The boto3 client comes from django-storages' S3Storage, so endpoint, region, addressing style, credentials
and botocore config are the usual ``AWS_*`` settings. Every call about a job names the job's own bucket
(``job.s3_bucket``, fixed at initiate): the bucket setting only decides where new jobs go.

Errors are classified here, once, into what the state machine needs: the object (the key) is missing, the
object changed, or S3 could not answer (transient). A configuration fault (a missing bucket, access denied,
bad credentials, the wrong region) is transient too, never "missing": it must not fail anyone's job, and it
is logged as an ERROR for whoever runs the service. Nothing else in the app looks at botocore exceptions.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import IO, Any

from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from storages.backends.s3 import S3Storage

from ..refusals import Refusal

logger = logging.getLogger(__name__)

DOWNLOAD_CHUNK_BYTES = 1024 * 1024


class StorageError(Exception):
    """Base class for classified S3 failures."""


class ObjectMissing(StorageError):
    """S3 said 404: the object is not there (S3 is strongly consistent, so this is real)."""


class ObjectChanged(StorageError):
    """The object's ETag no longer matches the one recorded at verification (412 on IfMatch)."""


class StorageUnavailable(StorageError, Refusal):
    """S3 could not answer: 5xx, throttling, timeouts, connection errors; or a configuration fault. The
    client is told only to retry (``str(exc)``, for the log, says what S3 answered)."""

    error_code = "storage_unavailable"
    status = HTTPStatus.SERVICE_UNAVAILABLE
    detail = "S3 did not answer; retry later."

    @property
    def retry_after(self) -> int:
        return int(settings.VIDEO_JOBS_RETRY_AFTER)


class UploadMissing(StorageError):
    """The multipart upload is gone: completed or aborted (S3's NoSuchUpload)."""


class StorageMisconfigured(StorageUnavailable):
    """S3 answered, about this service's configuration rather than the object: the bucket does not exist,
    access is denied (S3 answers 403 for a missing key without s3:ListBucket), bad credentials, another
    region. Transient for the job (nothing here is the client's doing); logged as an ERROR."""


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str
    content_type: str


@functools.cache
def _storage() -> S3Storage:
    return S3Storage(bucket_name=settings.AWS_STORAGE_BUCKET_NAME)


# CompleteMultipartUpload answers once S3 has assembled the object: for tens of gigabytes that may take
# minutes, far past AWS_S3_READ_TIMEOUT. One try: a retry while the first is still assembling helps nobody.
ASSEMBLY_CLIENT_CONFIG = BotoConfig(read_timeout=600, retries={"max_attempts": 1, "mode": "standard"})


@functools.cache
def _assembling_storage() -> S3Storage:
    config = settings.AWS_S3_CLIENT_CONFIG.merge(ASSEMBLY_CLIENT_CONFIG)
    return S3Storage(bucket_name=settings.AWS_STORAGE_BUCKET_NAME, client_config=config)


@receiver(setting_changed)
def _reset_storage(*, setting: str, **kwargs: Any) -> None:
    # Tests point the app at another endpoint or bucket with override_settings.
    if setting.startswith("AWS_"):
        _storage.cache_clear()
        _assembling_storage.cache_clear()


def client() -> Any:
    """The boto3 S3 client (thread-local in django-storages, so safe to use from worker threads)."""
    return _storage().connection.meta.client


def assembling_client() -> Any:
    """``client()`` with a read timeout long enough for CompleteMultipartUpload (ASSEMBLY_CLIENT_CONFIG)."""
    return _assembling_storage().connection.meta.client


def bucket_name() -> str:
    """The bucket new jobs are stored in. A job keeps its own (``s3_bucket``) whatever this says later."""
    return str(settings.AWS_STORAGE_BUCKET_NAME)


# Answers worth another try as they are. Any other 4xx is about the configuration.
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError"}
)


def classify(exc: Exception, *, bucket: str, key: str) -> StorageError:
    """What a botocore error about ``key`` in ``bucket`` means here ("" for the bucket itself)."""
    where = f"s3://{bucket}/{key}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        # Only an answer about the key itself: a GET names NoSuchKey; a HEAD's 404 has no body to name
        # anything (``head`` then asks whether the bucket exists). NoSuchBucket is a configuration fault.
        if code == "NoSuchUpload":
            return UploadMissing(f"no multipart upload in progress for {where}")
        if code == "NoSuchKey" or (key and status == 404 and code in {"404", "NotFound"}):
            return ObjectMissing(f"{where} does not exist")
        if status == 412 or code in {"412", "PreconditionFailed"}:
            return ObjectChanged(f"{where} changed after verification")
        if (status or 0) >= 500 or status in {408, 429} or code in _TRANSIENT_CODES:
            return StorageUnavailable(f"S3 answered {status} {code} for {where}")
        return StorageMisconfigured(f"S3 answered {status} {code or 'error'} for {where}")
    if isinstance(exc, HTTPClientError | BotoConnectionError | IncompleteReadError):
        return StorageUnavailable(f"S3 unreachable for {where}: {exc}")
    # No credentials, an invalid parameter, ...: nothing a retry mends by itself.
    return StorageMisconfigured(f"S3 call for {where} not made: {exc}")


# Seconds spent in S3 calls during a `timed()` block (for the Server-Timing header of the API).
_s3_seconds: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("s3_seconds", default=None)


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """Collect the duration of every S3 call made inside the block, in seconds."""
    durations: list[float] = []
    token = _s3_seconds.set(durations)
    try:
        yield durations
    finally:
        _s3_seconds.reset(token)


def call(bucket: str, key: str, operation: Callable[[], Any]) -> Any:
    """Run one S3 call about ``key`` in ``bucket``; botocore's errors come out classified (StorageError)."""
    started = time.perf_counter()
    try:
        return operation()
    except (ClientError, BotoCoreError) as exc:
        error = classify(exc, bucket=bucket, key=key)
        if isinstance(error, StorageMisconfigured):
            logger.error("S3 configuration fault: %s (fix the S3 settings or permissions)", error)
        raise error from exc
    finally:
        durations = _s3_seconds.get()
        if durations is not None:
            durations.append(time.perf_counter() - started)


# Every job's objects live under this prefix.
VIDEOS_PREFIX = "videos/"


def job_folder(job_id: object) -> str:
    """The prefix of every object of a job: its video and its artifacts."""
    return f"{VIDEOS_PREFIX}{job_id}/"


def video_key(job_id: object) -> str:
    """The server-generated key of a job's video. The client's filename never reaches a key."""
    return f"{job_folder(job_id)}source"


def artifact_key(job_id: object, name: str) -> str:
    """Artifacts (poster frame, ...) are stored beside the video."""
    return f"{job_folder(job_id)}{name}"


def head(*, bucket: str, key: str) -> ObjectInfo:
    """HeadObject on ``key``. Raises ObjectMissing (the key, never the bucket) or StorageUnavailable."""
    try:
        response = call(bucket, key, lambda: client().head_object(Bucket=bucket, Key=key))
    except ObjectMissing:
        # A HEAD's 404 has no body, so it cannot say whether the key or the whole bucket is missing, and
        # only a missing key may fail a job: a missing bucket raises StorageMisconfigured here instead.
        check_bucket(bucket=bucket)
        raise
    return ObjectInfo(
        size=int(response["ContentLength"]),
        etag=str(response.get("ETag", "")),
        content_type=str(response.get("ContentType", "")),
    )


@dataclass(frozen=True)
class Download:
    size: int
    sha256: str


def download(
    *,
    bucket: str,
    key: str,
    destination: IO[bytes],
    if_match: str = "",
    on_progress: Callable[[int], None] | None = None,
) -> Download:
    """Stream the object into ``destination`` in fixed-size chunks, hashing on the way.

    Memory stays constant whatever the object's size. ``if_match`` is the ETag recorded at verification:
    an object replaced since then raises ObjectChanged instead of being processed. A stream that ends
    before ContentLength (a dropped connection) raises StorageUnavailable: worth another try.
    """
    params: dict[str, str] = {"Bucket": bucket, "Key": key}
    if if_match:
        params["IfMatch"] = if_match
    response = call(bucket, key, lambda: client().get_object(**params))
    expected = int(response.get("ContentLength", -1))
    body = response["Body"]
    digest = hashlib.sha256()
    written = 0
    try:
        while True:
            chunk = call(bucket, key, lambda: body.read(DOWNLOAD_CHUNK_BYTES))
            if not chunk:
                break
            digest.update(chunk)
            destination.write(chunk)
            written += len(chunk)
            if on_progress is not None:
                on_progress(written)
    finally:
        body.close()
    destination.flush()
    if expected >= 0 and written != expected:
        raise StorageUnavailable(f"download of {key} ended after {written} of {expected} bytes")
    return Download(size=written, sha256=digest.hexdigest())


def put_artifact(*, bucket: str, key: str, data: bytes, content_type: str) -> None:
    call(
        bucket,
        key,
        lambda: client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type),
    )


def check_bucket(*, bucket: str = "") -> None:
    """Raise StorageUnavailable (StorageMisconfigured for a missing bucket) unless ``bucket`` (by default
    the configured one) answers HeadBucket."""
    name = bucket or bucket_name()
    call(name, "", lambda: client().head_bucket(Bucket=name))


def delete_object(*, bucket: str, key: str) -> None:
    """Delete one object; deleting an absent key succeeds (S3 answers 204 either way)."""
    call(bucket, key, lambda: client().delete_object(Bucket=bucket, Key=key))


# DeleteObjects takes at most this many keys per request (and ListObjectsV2 answers at most as many).
_DELETE_BATCH = 1000


def delete_folder(*, bucket: str, prefix: str) -> int:
    """Delete every object whose key starts with ``prefix``; returns how many there were.

    Listed rather than named one by one, so that objects nobody recorded (an artifact stored by an attempt
    that then lost its lease, an upload that arrived after its job failed) go too. Raises StorageUnavailable
    when any key could not be deleted.
    """
    deleted = 0
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": _DELETE_BATCH}
    while True:
        page = call(bucket, prefix, functools.partial(client().list_objects_v2, **params))
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            delete = {"Objects": keys, "Quiet": True}
            response = call(
                bucket, prefix, functools.partial(client().delete_objects, Bucket=bucket, Delete=delete)
            )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise StorageUnavailable(
                    f"S3 could not delete {len(response['Errors'])} object(s) under {prefix}, "
                    f"first {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )
            deleted += len(keys)
        if not page.get("IsTruncated"):
            return deleted
        params["ContinuationToken"] = page["NextContinuationToken"]


def list_folders(
    *, bucket: str, prefix: str, start_after: str = "", limit: int = _DELETE_BATCH
) -> tuple[list[str], str]:
    """One page (at most ``limit`` entries) of the folders right under ``prefix`` (``prefix<name>/``), in
    key order after ``start_after``; and the ``start_after`` of the next page ("" once at the end)."""
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/", "MaxKeys": limit}
    if start_after:
        params["StartAfter"] = start_after
    page = call(bucket, prefix, functools.partial(client().list_objects_v2, **params))
    folders = [str(item["Prefix"]) for item in page.get("CommonPrefixes", [])]
    if not page.get("IsTruncated"):
        return folders, ""
    # "0" sorts right after "/": past every key in the page's last folder.
    seen = [folder[:-1] + "0" for folder in folders[-1:]] + [
        str(item["Key"]) for item in page.get("Contents", [])
    ]
    return folders, max(seen, default="")
