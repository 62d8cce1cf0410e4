"""S3 multipart uploads of a job's video: the part plan, and the S3 calls (create, presigned parts, list
parts, complete, abort, list uploads), classified like every other S3 call (``storage.call``).

Large videos go up in parts, straight from the client to S3, in parallel and resumably: S3 keeps the parts
it holds until the upload is completed or aborted, so a client that died asks which ones are there and
sends only the others. The server alone creates, completes and aborts; clients only PUT parts to URLs
that sign each part's exact size.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from . import presign, storage
from .storage import call, client

# S3's limit: at most 10,000 parts (each at least 5 MiB but the last: VIDEO_JOBS_PART_SIZE's minimum).
MAX_PARTS = 10_000
# The most one PUT may carry: a larger file goes up in parts whatever the threshold says.
MAX_SINGLE_PUT = 5 * 1024**3
_MIB = 1024**2


@dataclass(frozen=True)
class PartPlan:
    """Every part but the last is exactly ``part_size`` bytes."""

    part_size: int
    part_count: int

    @classmethod
    def for_size(cls, size: int) -> PartPlan:
        """VIDEO_JOBS_PART_SIZE, raised (to whole MiB) when the file would need more than MAX_PARTS."""
        part_size = int(settings.VIDEO_JOBS_PART_SIZE)
        if math.ceil(size / part_size) > MAX_PARTS:
            part_size = math.ceil(size / MAX_PARTS / _MIB) * _MIB
        return cls(part_size=part_size, part_count=math.ceil(size / part_size))


def part_length(*, size: int, part_size: int, part_number: int) -> int:
    """The exact byte count of part ``part_number`` (1-based) of a file of ``size`` bytes."""
    return min(part_size, size - part_size * (part_number - 1))


def wants_multipart(size: int) -> bool:
    """Above VIDEO_JOBS_MULTIPART_THRESHOLD a video goes up in parts; below, in one presigned PUT."""
    return size > min(int(settings.VIDEO_JOBS_MULTIPART_THRESHOLD), MAX_SINGLE_PUT)


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    etag: str


@dataclass(frozen=True)
class Upload:
    key: str
    upload_id: str
    initiated: datetime


def create(*, bucket: str, key: str, content_type: str) -> str:
    """CreateMultipartUpload for ``key``; returns its upload id."""
    response = call(
        bucket,
        key,
        lambda: client().create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type),
    )
    return str(response["UploadId"])


def presign_part(
    *, bucket: str, key: str, upload_id: str, part_number: int, content_length: int
) -> presign.PresignedUpload:
    """A short-lived PUT URL for one part that signs its exact ``Content-Length`` (presign.presign_upload)."""
    return presign.presign_upload(
        bucket=bucket,
        key=key,
        content_length=content_length,
        query={"partNumber": str(part_number), "uploadId": upload_id},
    )


def list_parts(*, bucket: str, key: str, upload_id: str) -> list[Part]:
    """Every part S3 holds for the upload, every page of ListParts. Raises UploadMissing when the upload
    was completed or aborted."""
    parts: list[Part] = []
    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "UploadId": upload_id, "MaxParts": 1000}
    while True:
        page = call(bucket, key, functools.partial(client().list_parts, **params))
        parts.extend(
            Part(number=int(item["PartNumber"]), size=int(item["Size"]), etag=str(item["ETag"]))
            for item in page.get("Parts", [])
        )
        if not page.get("IsTruncated"):
            return parts
        params["PartNumberMarker"] = page["NextPartNumberMarker"]


def complete(*, bucket: str, key: str, upload_id: str, parts: list[Part], size: int) -> None:
    """CompleteMultipartUpload with ``parts``. S3 refuses when the object would not be ``size`` bytes
    (MpuObjectSize) or when an object is already under the key (If-None-Match: *, ObjectChanged): the
    server never replaces a video it may have verified."""
    listed = [
        {"PartNumber": part.number, "ETag": part.etag} for part in sorted(parts, key=lambda p: p.number)
    ]
    call(
        bucket,
        key,
        lambda: storage.assembling_client().complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": listed},
            MpuObjectSize=size,
            IfNoneMatch="*",
        ),
    )


def abort(*, bucket: str, key: str, upload_id: str) -> None:
    """AbortMultipartUpload: S3 drops the parts it holds. An upload already gone is not an error."""
    with contextlib.suppress(storage.UploadMissing):
        call(bucket, key, lambda: client().abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id))


def list_uploads(*, bucket: str, prefix: str) -> Iterator[Upload]:
    """The multipart uploads in progress under ``prefix``, every page of ListMultipartUploads."""
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxUploads": 1000}
    while True:
        page = call(bucket, prefix, functools.partial(client().list_multipart_uploads, **params))
        for item in page.get("Uploads", []):
            yield Upload(key=str(item["Key"]), upload_id=str(item["UploadId"]), initiated=item["Initiated"])
        if not page.get("IsTruncated"):
            return
        params["KeyMarker"] = page["NextKeyMarker"]
        params["UploadIdMarker"] = page["NextUploadIdMarker"]
