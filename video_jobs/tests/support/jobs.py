"""The one job factory: a job put straight into the database in any state, with the fields a job in that
state has. The code under test only ever moves jobs through services; tests may start them anywhere.

A job taken the real way to ``queued`` (initiate, PUT, upload-complete) is the ``queue_job`` fixture's.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from video_jobs.clock import DatabaseNow
from video_jobs.models import ErrorCode, VideoAnalysisJob
from video_jobs.s3 import storage

Status = VideoAnalysisJob.Status
Stage = VideoAnalysisJob.Stage

# The bytes a job made here declares (``size_bytes``): ``put_video(job, VIDEO)`` uploads it whole.
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"cricket" * 100

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
    """A job of ``owner`` created ``age`` ago, with the fields a job in ``status`` has; ``fields`` override
    them (a value may be an expression, such as ``DatabaseNow(offset)``)."""
    now = timezone.now()
    created = now - age
    job_id = uuid.uuid4()
    size = fields.get("size_bytes", len(VIDEO))
    values: dict[str, Any] = {
        "id": job_id,
        "owner": owner,
        "status": status,
        "stage": STAGE_OF[Status(status)],
        "s3_bucket": storage.bucket_name(),
        "s3_key": storage.video_key(job_id),
        "filename": f"{status} {job_id.hex[:6]}.mp4",
        "content_type": "video/mp4",
        "size_bytes": size,
        "max_attempts": settings.VIDEO_JOBS_MAX_ATTEMPTS,
        "created_at": created,
        # Claimable (once queued) by the clock the claim reads: the database's, as initiate writes it. On
        # SQLite to the millisecond, so this process's own now could still lie a fraction of one ahead.
        "run_after": DatabaseNow(-age),
        "upload_deadline": created + timedelta(seconds=settings.VIDEO_JOBS_UPLOAD_DEADLINE),
    }
    if status in (Status.QUEUED, Status.PROCESSING, Status.DONE):
        values.update(verified_at=created, object_size=size, queued_at=created)
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
    job = VideoAnalysisJob.objects.create(**values)
    job.refresh_from_db()  # the times the database computed, not their expressions
    return job


def processing(
    owner: Any, *, worker: str = "w1", attempts: int = 1, lease_in: float = 60
) -> VideoAnalysisJob:
    """A job ``worker`` holds, on its ``attempts``-th attempt, its lease ending in ``lease_in`` seconds."""
    return make_job(
        owner,
        Status.PROCESSING,
        worker_id=worker,
        attempts=attempts,
        lease_expires_at=timezone.now() + timedelta(seconds=lease_in),
    )
