"""Jobs arranged directly in the database in any state, for the admin, stats and metrics tests.

The code under test only ever moves jobs through services; tests may put them anywhere to start from.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.test import override_settings
from django.utils import timezone

from video_jobs.models import ErrorCode, VideoAnalysisJob
from video_jobs.s3 import storage
from video_jobs.s3.embedded import free_port

from ..api.test_views import VIDEO

Status = VideoAnalysisJob.Status
Stage = VideoAnalysisJob.Stage

STAGE_OF = {
    Status.AWAITING_UPLOAD: Stage.AWAITING_UPLOAD,
    Status.QUEUED: Stage.QUEUED,
    Status.PROCESSING: Stage.ANALYZING,
    Status.DONE: Stage.DONE,
    Status.FAILED: Stage.FAILED,
    Status.CANCELLED: Stage.CANCELLED,
}


def make_job(
    owner: Any, status: str = Status.AWAITING_UPLOAD, *, age: timedelta = timedelta(0), **fields: Any
) -> VideoAnalysisJob:
    """A job created ``age`` ago, with the fields a job in ``status`` has; ``fields`` override them."""
    now = timezone.now()
    created = now - age
    job_id = uuid.uuid4()
    values: dict[str, Any] = {
        "id": job_id,
        "owner": owner,
        "status": status,
        "stage": STAGE_OF[Status(status)],
        "s3_bucket": storage.bucket_name(),
        "s3_key": storage.video_key(job_id),
        "filename": f"{status} {job_id.hex[:6]}.mp4",
        "content_type": "video/mp4",
        "size_bytes": len(VIDEO),
        "created_at": created,
        "upload_deadline": created + timedelta(days=1),
    }
    if status in (Status.QUEUED, Status.PROCESSING, Status.DONE):
        values.update(verified_at=created, object_size=len(VIDEO), queued_at=created)
    if status in (Status.PROCESSING, Status.DONE):
        values.update(worker_id="worker-1", attempts=1, started_at=now)
    if status == Status.PROCESSING:
        values.update(lease_expires_at=now + timedelta(seconds=60))
    if status == Status.DONE:
        values.update(progress=100, result={"frames": 1}, finished_at=now)
    if status == Status.FAILED:
        values.update(error_code=ErrorCode.INVALID_VIDEO, error_message="not a video", finished_at=now)
    if status == Status.CANCELLED:
        values.update(finished_at=now)
    values.update(fields)
    return VideoAnalysisJob.objects.create(**values)


def s3_down() -> override_settings:
    """S3 that cannot be reached: nothing listens on the endpoint's port."""
    return override_settings(AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
