"""Helpers of the services tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from video_jobs.models import VideoAnalysisJob

from ..support.jobs import STAGE_OF

Status = VideoAnalysisJob.Status
DATA = b"a cricket video" * 50

__all__ = ["DATA", "STAGE_OF", "processing"]


def processing(make_job: Any, *, worker: str = "w1", attempts: int = 1, lease_in: float = 60) -> Any:
    return make_job(
        status=Status.PROCESSING,
        worker_id=worker,
        attempts=attempts,
        lease_expires_at=timezone.now() + timedelta(seconds=lease_in),
    )
