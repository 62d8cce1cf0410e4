"""Per-user quotas: at most VIDEO_JOBS_MAX_PENDING_UPLOADS jobs awaiting their upload and at most
VIDEO_JOBS_MAX_ACTIVE_JOBS queued or processing, unless staff gave the user other limits (a JobQuota row,
edited in the admin). Initiate checks both (``enforce``); upload-complete checks the active jobs again
(``enforce_active``), since a job becomes active only there. Staff re-verification and retry, and the
reconciler of uploads past their deadline, queue whatever the quota says (docs/api.md, "Quotas").
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from ..clock import DatabaseNow
from ..models import GIVEN_UP_STATUSES, LIVE_STATUSES, JobQuota, UploadTombstone, VideoAnalysisJob
from ..refusals import Refusal
from . import strays

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
    return _limits(row.max_pending_uploads if row else None, row.max_active_jobs if row else None)


def _limits(pending: int | None, active: int | None) -> Limits:
    return Limits(
        pending_uploads=settings.VIDEO_JOBS_MAX_PENDING_UPLOADS if pending is None else pending,
        active_jobs=settings.VIDEO_JOBS_MAX_ACTIVE_JOBS if active is None else active,
    )


def _lock(owner_id: Any) -> Limits:
    """Lock the owner's user row (FOR NO KEY UPDATE, which a job's foreign key check does not wait on) until
    the caller's transaction ends, and read their limits in the same round trip. One user's quota checks take
    turns here, so two of them cannot both count the same free place; other users are not held up. (SQLite
    has no row locks, but its IMMEDIATE transactions already let one writer in at a time.) Only the user's
    row is locked (``of``), never the JobQuota row, which staff may edit meanwhile."""
    # Model instances, not values(): Django applies ``of`` only to a query that builds models.
    user = (
        get_user_model()
        .objects.select_for_update(no_key=True, of=("self",))
        .select_related("video_job_quota")
        .only("pk", "video_job_quota__max_pending_uploads", "video_job_quota__max_active_jobs")
        .get(pk=owner_id)
    )
    quota = getattr(user, "video_job_quota", None)  # a user without a row: None
    return _limits(quota.max_pending_uploads if quota else None, quota.max_active_jobs if quota else None)


def _counts(owner_id: Any, *, limit: int) -> dict[str, int]:
    """The owner's live jobs per status, in one query on partial indexes. A statement of its own, run once
    the lock is held: its snapshot then sees every job a previous holder committed (a count inside the
    locking statement would be read from a snapshot taken before the wait).

    A pending upload counts until every upload URL handed out for it has expired (``strays``): jobs
    awaiting their upload, jobs cancelled or failed before a verified upload less than the URLs' lifetime
    ago, and deleted jobs' tombstones until their URLs expire. Giving a place up early (cancel, delete)
    therefore frees it only then, so one user's late uploads (which the sweeps remove) never exceed their
    pending-uploads quota at a time. Tombstones are counted only while the jobs alone stay under the
    pending-uploads ``limit``."""
    url_valid_since = DatabaseNow(-strays.url_lifetime())
    given_up = Q(status__in=GIVEN_UP_STATUSES, verified_at__isnull=True, finished_at__gt=url_valid_since)
    counts = (
        VideoAnalysisJob.objects.filter(owner=owner_id)
        .filter(Q(status__in=LIVE_STATUSES) | given_up)
        .aggregate(
            pending=Count("pk", filter=Q(status=Status.AWAITING_UPLOAD) | given_up),
            active=Count("pk", filter=Q(status__in=[Status.QUEUED, Status.PROCESSING])),
        )
    )
    if counts["pending"] < limit:  # else no need to look further
        counts["pending"] += UploadTombstone.objects.filter(
            owner=owner_id, urls_expire_at__gt=DatabaseNow()
        ).count()
    return counts


def _refuse_active(active: int, limits: Limits) -> None:
    if active >= limits.active_jobs:
        raise QuotaExceeded(
            quota="active_jobs",
            limit=limits.active_jobs,
            message=f"You have {active} jobs queued or processing, and at most "
            f"{limits.active_jobs} are allowed: wait for one to finish.",
        )


def enforce(owner: Any) -> None:
    """Raise QuotaExceeded unless ``owner`` may create one more job. Call it inside the transaction that
    inserts the job: 1. lock the owner and read their limits (``_lock``); 2. count live jobs; 3. refuse."""
    limits = _lock(owner.pk)
    counts = _counts(owner.pk, limit=limits.pending_uploads)
    if counts["pending"] >= limits.pending_uploads:
        raise QuotaExceeded(
            quota="pending_uploads",
            limit=limits.pending_uploads,
            message=f"You have {counts['pending']} jobs awaiting their upload (a job cancelled or deleted "
            "counts until its upload URL has expired), and at most "
            f"{limits.pending_uploads} are allowed: upload one first, or wait.",
        )
    _refuse_active(counts["active"], limits)


def enforce_active(owner_id: Any, *, lock: bool = True) -> None:
    """Raise QuotaExceeded unless the owner may have one more job queued or processing. Call it inside the
    transaction that queues the job (``lock``: the owner's row lock, as ``enforce`` takes it); without
    ``lock`` it is only a first look, which spares an S3 call for a caller that is over."""
    limits = _lock(owner_id) if lock else limits_for(owner_id)
    _refuse_active(_counts(owner_id, limit=0)["active"], limits)
