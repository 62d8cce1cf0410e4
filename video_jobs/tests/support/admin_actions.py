"""The job admin's list and its actions, as staff use them: jobs arranged in every state that matters to
some action, an action run on a selection (confirmed or not), and what it reported."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from video_jobs.models import ErrorCode, VideoAnalysisJob

from .jobs import make_job

Status = VideoAnalysisJob.Status
CHANGELIST = "/admin/video_jobs/videoanalysisjob/"
STUCK = timedelta(minutes=10)  # older than the default VIDEO_JOBS_STUCK_UPLOAD_MINUTES (5)

# Every state a job can be in that matters to some action: (status, fields).
STATES: dict[str, tuple[str, dict[str, Any]]] = {
    "awaiting_upload": (Status.AWAITING_UPLOAD, {}),
    "queued": (Status.QUEUED, {}),
    "processing": (Status.PROCESSING, {}),
    "processing_stale": (Status.PROCESSING, {"lease_expires_at": timezone.now() - timedelta(minutes=1)}),
    "done": (Status.DONE, {}),
    "cancelled": (Status.CANCELLED, {}),
    **{f"failed_{code}": (Status.FAILED, {"error_code": code, "attempts": 3}) for code in ErrorCode.values},
}

# The recovery actions, by the labels staff see (and the admin log records).
ACTION_LABELS = {
    "reverify_upload_and_queue": "Re-verify upload and queue",
    "retry_failed_jobs": "Retry failed jobs",
    "requeue_stale_processing": "Requeue stale processing jobs",
    "cancel_jobs": "Cancel jobs",
}


def job_in(state: str, owner: Any, **overrides: Any) -> VideoAnalysisJob:
    """A job of ``owner`` in one of the ``STATES``, created long enough ago to count as stuck."""
    status, fields = STATES[state]
    return make_job(owner, status, age=STUCK, **{**fields, **overrides})


def run_action(client: Client, action: str, jobs: list[VideoAnalysisJob], *, confirm: bool = True) -> Any:
    data: dict[str, Any] = {"action": action, "_selected_action": [str(job.pk) for job in jobs]}
    if confirm:
        data["post"] = "yes"
    return client.post(CHANGELIST, data, follow=True)


def reported(response: Any) -> list[tuple[int, str]]:
    return [(message.level, message.message) for message in response.context["messages"]]


def snapshot(job: VideoAnalysisJob) -> dict[str, Any]:
    return {f.attname: getattr(job, f.attname) for f in job._meta.concrete_fields if f.name != "updated_at"}
