"""Per-user quotas, checked when a job is created: at most VIDEO_JOBS_MAX_PENDING_UPLOADS jobs awaiting their
upload and at most VIDEO_JOBS_MAX_ACTIVE_JOBS queued or processing, unless staff gave the user other limits
(a JobQuota row, edited in the admin).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from ..models import LIVE_STATUSES, JobQuota, VideoAnalysisJob
from ..refusals import Refusal

Status = VideoAnalysisJob.Status


@dataclass(frozen=True)
class Limits:
    pending_uploads: int
    active_jobs: int


class QuotaExceeded(Refusal):
    """The user already has as many jobs as one of their limits allows."""

    error_code = "quota_exceeded"
    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, *, quota: str, limit: int, message: str) -> None:
        super().__init__(message, detail=message)
        self.quota = quota  # "pending_uploads" or "active_jobs"
        self.limit = limit
        self.message = message

    @property
    def retry_after(self) -> int:
        return int(settings.VIDEO_JOBS_QUOTA_RETRY_AFTER)

    def extra(self) -> dict[str, Any]:
        return {"quota": self.quota, "limit": self.limit}


def limits_for(user: Any) -> Limits:
    """The user's limits: staff's JobQuota where it sets one, the settings' defaults elsewhere."""
    row = JobQuota.objects.filter(user=user).first()
    pending = row.max_pending_uploads if row else None
    active = row.max_active_jobs if row else None
    return Limits(
        pending_uploads=settings.VIDEO_JOBS_MAX_PENDING_UPLOADS if pending is None else pending,
        active_jobs=settings.VIDEO_JOBS_MAX_ACTIVE_JOBS if active is None else active,
    )


def enforce(owner: Any) -> None:
    """Raise QuotaExceeded unless ``owner`` may create one more job. Call it inside the transaction that
    inserts the job.

    1. Lock the owner's user row (FOR NO KEY UPDATE, which the job's foreign key check does not wait on),
       held until that transaction ends: one user's initiates take turns here, so two of them cannot both
       count the same free place. Other users are not held up. (SQLite has no row locks, but its IMMEDIATE
       transactions already let one writer in at a time.)
    2. Count the user's live jobs per status, in one query on a partial index.
    """
    users = get_user_model().objects
    list(users.select_for_update(no_key=True).filter(pk=owner.pk).values_list("pk", flat=True))
    limits = limits_for(owner)
    counts = VideoAnalysisJob.objects.filter(owner=owner, status__in=LIVE_STATUSES).aggregate(
        pending=Count("pk", filter=Q(status=Status.AWAITING_UPLOAD)),
        active=Count("pk", filter=Q(status__in=[Status.QUEUED, Status.PROCESSING])),
    )
    if counts["pending"] >= limits.pending_uploads:
        raise QuotaExceeded(
            quota="pending_uploads",
            limit=limits.pending_uploads,
            message=f"You have {counts['pending']} jobs awaiting their upload, and at most "
            f"{limits.pending_uploads} are allowed: upload or cancel one first.",
        )
    if counts["active"] >= limits.active_jobs:
        raise QuotaExceeded(
            quota="active_jobs",
            limit=limits.active_jobs,
            message=f"You have {counts['active']} jobs queued or processing, and at most "
            f"{limits.active_jobs} are allowed: wait for one to finish.",
        )
