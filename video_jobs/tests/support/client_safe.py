"""What a client-visible error message must never name: the storage's endpoint, bucket or keys, a host, a
temporary path or a worker id (they go to error_detail, the log and the admin)."""

from __future__ import annotations

import tempfile

from django.conf import settings

from video_jobs.models import VideoAnalysisJob


def internal_names(job: VideoAnalysisJob) -> list[str]:
    names = [
        str(settings.AWS_S3_ENDPOINT_URL),
        job.s3_bucket,
        job.s3_key,
        "s3://",
        "127.0.0.1",
        "localhost",
        tempfile.gettempdir(),
        "cricksy-",  # the temporary download's name
    ]
    if job.worker_id:
        names.append(job.worker_id)
    return names


def assert_client_safe(job: VideoAnalysisJob, *, worker_id: str = "") -> None:
    """The job's error_message names nothing internal (``worker_id``: the worker that had it, if any)."""
    assert job.error_message, "the client is told something"
    leaked = [name for name in [*internal_names(job), worker_id] if name and name in job.error_message]
    assert not leaked, f"error_message {job.error_message!r} names {leaked}"
