"""The queue's state at a glance: one computation shared by the admin summary, job_stats and /metrics.

Every number comes from the database at the moment it is asked for, through the QuerySet predicates that
the admin filters and the worker use, so the three views can never disagree about what "stuck" means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Min

from ..clock import database_now
from ..models import VideoAnalysisJob

Status = VideoAnalysisJob.Status


@dataclass(frozen=True)
class JobStats:
    # Every status, zero included, in the lifecycle's order.
    by_status: dict[str, int]
    stuck_uploads: int
    stuck_upload_minutes: int
    stale_processing: int
    oldest_queued_at: datetime | None
    generated_at: datetime

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def oldest_queued_age(self) -> timedelta | None:
        """How long the job that has waited longest in the queue has been waiting."""
        if self.oldest_queued_at is None:
            return None
        return max(timedelta(0), self.generated_at - self.oldest_queued_at)

    def as_dict(self) -> dict[str, Any]:
        age = self.oldest_queued_age
        return {
            "by_status": dict(self.by_status),
            "total": self.total,
            "stuck_uploads": self.stuck_uploads,
            "stuck_upload_minutes": self.stuck_upload_minutes,
            "stale_processing": self.stale_processing,
            "oldest_queued_at": self.oldest_queued_at.isoformat() if self.oldest_queued_at else None,
            "oldest_queued_age_seconds": round(age.total_seconds(), 3) if age is not None else None,
            "generated_at": self.generated_at.isoformat(),
        }


def job_stats(*, stuck_upload_minutes: int | None = None) -> JobStats:
    """Counts per status, stuck uploads, stale processing jobs and the oldest queued job's queue time."""
    minutes = int(stuck_upload_minutes or settings.VIDEO_JOBS_STUCK_UPLOAD_MINUTES)
    # The database's clock, like the times it is compared with (queued_at) and the predicates below.
    now = database_now()
    jobs = VideoAnalysisJob.objects.all()
    # One GROUP BY over the status index rather than a COUNT per status.
    counted = dict(jobs.order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    oldest = jobs.filter(status=Status.QUEUED).order_by().aggregate(oldest=Min("queued_at"))["oldest"]
    return JobStats(
        by_status={status: counted.get(status, 0) for status in Status.values},
        stuck_uploads=jobs.stuck_uploads(older_than=timedelta(minutes=minutes)).count(),
        stuck_upload_minutes=minutes,
        stale_processing=jobs.lease_expired().count(),
        oldest_queued_at=oldest,
        generated_at=now,
    )
