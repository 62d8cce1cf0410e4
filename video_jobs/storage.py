"""S3 access for video jobs: presigned uploads, verification (HeadObject), downloads and artifacts.

The boto3 client comes from django-storages' S3Storage, so endpoint, region, addressing style, credentials
and botocore config are the usual ``AWS_*`` settings. Errors are classified here, once, into what the
state machine needs: the object is missing, or S3 could not answer (transient). Nothing else in the app
looks at botocore exceptions.
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
from datetime import datetime, timedelta
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone
from storages.backends.s3 import S3Storage

logger = logging.getLogger(__name__)

DOWNLOAD_CHUNK_BYTES = 1024 * 1024


class StorageError(Exception):
    """Base class for classified S3 failures."""


class ObjectMissing(StorageError):
    """S3 said 404: the object is not there (S3 is strongly consistent, so this is real)."""


class ObjectChanged(StorageError):
    """The object's ETag no longer matches the one recorded at verification (412 on IfMatch)."""


class StorageUnavailable(StorageError):
    """S3 could not answer: 403 (configuration), 5xx, throttling, timeouts, connection errors."""


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str
    content_type: str


@dataclass(frozen=True)
class PresignedUpload:
    method: str
    url: str
    headers: dict[str, str]
    expires_at: datetime


@functools.cache
def _storage() -> S3Storage:
    return S3Storage(bucket_name=settings.AWS_STORAGE_BUCKET_NAME)


@receiver(setting_changed)
def _reset_storage(*, setting: str, **kwargs: Any) -> None:
    # Tests point the app at another endpoint or bucket with override_settings.
    if setting.startswith("AWS_"):
        _storage.cache_clear()


def client() -> Any:
    """The boto3 S3 client (thread-local in django-storages, so safe to use from worker threads)."""
    return _storage().connection.meta.client


def bucket_name() -> str:
    return str(settings.AWS_STORAGE_BUCKET_NAME)


def _classify(exc: Exception, *, key: str) -> StorageError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404 or code in {"404", "NoSuchKey", "NotFound"}:
            return ObjectMissing(f"s3://{bucket_name()}/{key} does not exist")
        if status == 412 or code in {"412", "PreconditionFailed"}:
            return ObjectChanged(f"s3://{bucket_name()}/{key} changed after verification")
        # 403 is what S3 answers instead of 404 when the caller lacks s3:ListBucket: a configuration
        # fault to surface, never a reason to fail a user's job.
        return StorageUnavailable(f"S3 answered {status} {code} for {key}")
    return StorageUnavailable(f"S3 unreachable for {key}: {exc}")


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


def _call(key: str, operation: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    try:
        return operation()
    except (ClientError, BotoCoreError) as exc:
        raise _classify(exc, key=key) from exc
    finally:
        durations = _s3_seconds.get()
        if durations is not None:
            durations.append(time.perf_counter() - started)


def job_folder(job_id: object) -> str:
    """The prefix of every object of a job: its video and its artifacts."""
    return f"videos/{job_id}/"


def video_key(job_id: object) -> str:
    """The server-generated key of a job's video. The client's filename never reaches a key."""
    return f"{job_folder(job_id)}source"


def artifact_key(job_id: object, name: str) -> str:
    """Artifacts (poster frame, ...) are stored beside the video."""
    return f"{job_folder(job_id)}{name}"


def presign_upload(*, key: str, content_type: str) -> PresignedUpload:
    """A short-lived PUT URL bound to the key and the content type (the signature covers both)."""
    expires = int(settings.VIDEO_JOBS_UPLOAD_URL_EXPIRES)
    url = client().generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket_name(), "Key": key, "ContentType": content_type},
        ExpiresIn=expires,
        HttpMethod="PUT",
    )
    return PresignedUpload(
        method="PUT",
        url=url,
        headers={"Content-Type": content_type},
        expires_at=timezone.now() + timedelta(seconds=expires),
    )


def head(*, key: str) -> ObjectInfo:
    """HeadObject on ``key``. Raises ObjectMissing or StorageUnavailable."""
    response = _call(key, lambda: client().head_object(Bucket=bucket_name(), Key=key))
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
    params: dict[str, str] = {"Bucket": bucket_name(), "Key": key}
    if if_match:
        params["IfMatch"] = if_match
    response = _call(key, lambda: client().get_object(**params))
    expected = int(response.get("ContentLength", -1))
    body = response["Body"]
    digest = hashlib.sha256()
    written = 0
    try:
        while True:
            chunk = _call(key, lambda: body.read(DOWNLOAD_CHUNK_BYTES))
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


def put_artifact(*, key: str, data: bytes, content_type: str) -> None:
    _call(
        key,
        lambda: client().put_object(Bucket=bucket_name(), Key=key, Body=data, ContentType=content_type),
    )


def ensure_bucket() -> bool:
    """Create the bucket if it does not exist. Returns True when it was created."""
    name = bucket_name()
    try:
        client().head_bucket(Bucket=name)
        return False
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
            raise _classify(exc, key="") from exc
    except BotoCoreError as exc:
        raise _classify(exc, key="") from exc
    region = settings.AWS_S3_REGION_NAME
    kwargs: dict[str, Any] = {"Bucket": name}
    if region and region != "us-east-1":
        # us-east-1 is the one region that rejects an explicit LocationConstraint.
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    _call("", lambda: client().create_bucket(**kwargs))
    return True


def browser_upload_cors_rule(origins: list[str]) -> dict[str, Any]:
    """The bucket CORS rule a browser on one of ``origins`` needs to PUT to presigned URLs (README shows it).

    PUT for the upload (and its parts), GET and HEAD to read results back; any request header, since the
    signature may cover Content-Type and checksum headers; ETag exposed, so that a browser uploading parts
    can read each part's ETag.
    """
    return {
        "AllowedOrigins": origins,
        "AllowedMethods": ["PUT", "GET", "HEAD"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3600,
    }


def allow_browser_uploads(origins: list[str]) -> None:
    """Set the bucket's CORS configuration to the browser upload rule (``make run`` does, on its moto)."""
    rule = browser_upload_cors_rule(origins)
    _call("", lambda: client().put_bucket_cors(Bucket=bucket_name(), CORSConfiguration={"CORSRules": [rule]}))


def check_bucket() -> None:
    """Raise StorageUnavailable (or ObjectMissing for a missing bucket) unless the bucket answers."""
    _call("", lambda: client().head_bucket(Bucket=bucket_name()))


def delete_object(*, bucket: str, key: str) -> None:
    """Delete one object; deleting an absent key succeeds (S3 answers 204 either way)."""
    _call(key, lambda: client().delete_object(Bucket=bucket, Key=key))


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
        page = _call(prefix, functools.partial(client().list_objects_v2, **params))
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            delete = {"Objects": keys, "Quiet": True}
            response = _call(prefix, functools.partial(client().delete_objects, Bucket=bucket, Delete=delete))
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
