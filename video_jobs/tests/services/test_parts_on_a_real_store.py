"""Multipart uploads on a real object store (SeaweedFS): the part URLs bind each part's size at the store;
the store does not check the completion's ``MpuObjectSize``, so what keeps a part of another size out of an
assembled video is the service's own check of every part before it completes the upload, and the HeadObject
gate after it; ``If-None-Match: *`` keeps an object already under the key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.test import override_settings

from video_jobs import services
from video_jobs.models import ErrorCode, VideoAnalysisJob
from video_jobs.s3 import storage
from video_jobs.s3.seaweedfs import SeaweedFS
from video_jobs.services import Outcome

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
MIB = 1024**2
PART = 5 * MIB  # the store's smallest part but the last
# Three parts: 5 MiB, 5 MiB and a last one of 1 MiB and 3 bytes.
DATA = hashlib.sha256(b"over 20").digest() * (11 * MIB // 32) + b"end"


@pytest.fixture
def big_job(strict_s3: SeaweedFS, user: Any) -> Iterator[VideoAnalysisJob]:
    with override_settings(VIDEO_JOBS_MULTIPART_THRESHOLD=MIB, VIDEO_JOBS_PART_SIZE=PART):
        job, _ = services.initiate_upload(
            owner=user, filename="match.mp4", content_type="video/mp4", size_bytes=len(DATA)
        )
        instructions = services.upload_instructions(job)  # creates the multipart upload
        assert instructions is not None
        assert instructions["method"] == "multipart"
        assert job.upload_id
        yield job


def put_parts(job: VideoAnalysisJob, numbers: list[int]) -> None:
    """PUT parts as a client does: to the presigned URLs, with exactly the headers they came with."""
    for part in services.presign_parts(job, numbers):
        start = (part["part_number"] - 1) * PART
        body = DATA[start : start + PART]
        response = requests.put(part["url"], data=body, headers=part["headers"], timeout=30)
        assert response.status_code == 200, response.text


def in_progress(job: VideoAnalysisJob) -> bool:
    listed = storage.client().list_multipart_uploads(Bucket=job.s3_bucket, Prefix=job.s3_key)
    return job.upload_id in [upload["UploadId"] for upload in listed.get("Uploads", [])]


def test_a_part_url_refuses_a_part_of_another_size(big_job: VideoAnalysisJob) -> None:
    (part,) = services.presign_parts(big_job, [3])
    headers = {name: value for name, value in part["headers"].items() if name != "Content-Length"}

    assert requests.put(part["url"], data=b"short", headers=headers, timeout=30).status_code == 403
    assert services.held_parts(big_job) == []


def test_parts_sent_through_their_urls_are_assembled_and_verified(big_job: VideoAnalysisJob) -> None:
    put_parts(big_job, [2, 3, 1])

    result = services.complete_upload(job=big_job)

    assert (result.outcome, big_job.status, big_job.object_size) == (Outcome.QUEUED, Status.QUEUED, len(DATA))
    stored = storage.client().get_object(Bucket=big_job.s3_bucket, Key=big_job.s3_key)["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(DATA).digest()
    assert not in_progress(big_job)


def test_a_last_part_of_another_size_is_never_assembled(big_job: VideoAnalysisJob) -> None:
    # Someone holding the bucket's credentials (not a part URL, which binds the size) sends a short last
    # part. The store would complete it into an object of another size (it ignores MpuObjectSize); the
    # service lists the parts first and asks for that one again instead.
    put_parts(big_job, [1, 2])
    storage.client().upload_part(
        Bucket=big_job.s3_bucket, Key=big_job.s3_key, UploadId=big_job.upload_id, PartNumber=3, Body=b"short"
    )

    result = services.complete_upload(job=big_job)

    assert (result.outcome, result.missing_parts) == (Outcome.INCOMPLETE, [3])
    big_job.refresh_from_db()
    assert big_job.status == Status.AWAITING_UPLOAD
    assert in_progress(big_job)
    with pytest.raises(storage.ObjectMissing):
        storage.head(bucket=big_job.s3_bucket, key=big_job.s3_key)


def test_an_object_already_under_the_key_is_not_replaced_and_fails_the_gate(
    big_job: VideoAnalysisJob,
) -> None:
    storage.client().put_object(Bucket=big_job.s3_bucket, Key=big_job.s3_key, Body=b"not the video")
    put_parts(big_job, [1, 2, 3])

    result = services.complete_upload(job=big_job)

    # If-None-Match: * refused the completion; the HeadObject gate then saw the other object's size.
    assert result.outcome == Outcome.SIZE_MISMATCH
    assert (big_job.status, big_job.error_code) == (Status.FAILED, ErrorCode.UPLOAD_SIZE_MISMATCH)
    stored = storage.client().get_object(Bucket=big_job.s3_bucket, Key=big_job.s3_key)["Body"].read()
    assert stored == b"not the video"
