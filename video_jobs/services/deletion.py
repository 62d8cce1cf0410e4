"""Deleting what S3 holds for a job: the whole job on request (API and admin), and its source video once
VIDEO_JOBS_RETAIN_SOURCE_DAYS have passed since it ended (the workers' retention sweep).

Both mark the job first (``source_deleted_at``, a guarded UPDATE) and only then delete objects: from the
mark on, staff re-verification and retry refuse the job, so nothing can queue a job whose video is going or
gone (a worker would meet a 404 where only verified objects should be). S3 calls happen outside any
transaction; the row goes only after its objects are gone, so no row is deleted with its objects left behind.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.db.models.functions import Coalesce

from ..clock import DatabaseNow, database_now
from ..models import ENDED_STATUSES, VideoAnalysisJob
from ..s3 import storage
from .machinery import JobGone, reload
from .parts import abort_upload
from .uploads import cancel_job

logger = logging.getLogger(__name__)

Status = VideoAnalysisJob.Status


class Deletion(enum.StrEnum):
    """What ``delete_job`` did."""

    DELETED = "deleted"
    PROCESSING = "processing"  # refused: a worker is processing the job (or took it meanwhile)
    STORAGE_UNAVAILABLE = "storage_unavailable"  # S3 could not delete: the job stays, marked, to try again


def delete_job(*, job: VideoAnalysisJob) -> Deletion:
    """Delete the job's objects in S3, then the job.

    1. A job no worker has started is cancelled (guarded), so that nothing claims or verifies it any more.
       A processing job is refused: its worker is writing artifacts beside the video.
    2. Mark the source deleted, guarded by an ended status: a job a worker took meanwhile is refused.
    3. Delete everything S3 holds for the job (see ``_delete_stored_objects``). When S3 cannot answer, the
       job stays (cancelled if it had not started, marked either way): the caller tries again.
    4. Delete the row, guarded by an ended status again.

    A call that finds the row gone at any step lost the race to another deletion: JobGone (a 404).
    """
    if job.status in (Status.AWAITING_UPLOAD, Status.QUEUED):
        cancel_job(job=job)  # when a worker claimed the job first, step 2 refuses it
    marked = VideoAnalysisJob.objects.filter(pk=job.pk, status__in=ENDED_STATUSES).update(
        source_deleted_at=Coalesce(F("source_deleted_at"), DatabaseNow()), updated_at=DatabaseNow()
    )
    if not marked:
        reload(job)  # JobGone when a concurrent deletion got there first
        return Deletion.PROCESSING
    try:
        removed = _delete_stored_objects(job)
    except storage.StorageError as exc:
        logger.warning("job %s: not deleted, S3 could not delete its objects: %s", job.pk, exc)
        reload(job)
        return Deletion.STORAGE_UNAVAILABLE
    deleted, _ = VideoAnalysisJob.objects.filter(pk=job.pk, status__in=ENDED_STATUSES).delete()
    if not deleted:
        # Once marked, a job stays ended (retry and re-verify refuse it): the row went with another deletion.
        raise JobGone(f"job {job.pk} was deleted meanwhile")
    logger.info("job %s deleted with its %s object(s) in S3", job.pk, removed)
    return Deletion.DELETED


def _delete_stored_objects(job: VideoAnalysisJob) -> int:
    """Everything S3 holds for the job, in the bucket recorded on it: the parts of an unfinished multipart
    upload (aborted), the video (or whatever part of an upload arrived) and the artifacts, all under the
    job's folder. The one place that knows what a job stores."""
    abort_upload(job)
    return storage.delete_folder(bucket=job.s3_bucket, prefix=storage.job_folder(job.pk))


def expire_source_videos(*, now: datetime | None = None, limit: int = 100) -> int:
    """Delete the source video of jobs that ended more than VIDEO_JOBS_RETAIN_SOURCE_DAYS ago (0: keep
    forever); their result and artifacts stay. Returns how many were deleted.

    Each job: 1. mark ``source_deleted_at`` (guarded: still ended, not marked yet); 2. delete the object.
    When S3 cannot answer, the mark is taken back and the sweep stops there until the next one: with S3
    down, each further call would only hold the worker for another timeout.
    """
    days = int(settings.VIDEO_JOBS_RETAIN_SOURCE_DAYS)
    if days == 0:
        return 0
    # The database's clock, as for every time that other processes compare (video_jobs/clock.py): read once,
    # so that a mark can be taken back by its exact value.
    now = now or database_now()
    jobs = VideoAnalysisJob.objects.source_retention_passed(ended_before=now - timedelta(days=days))
    expired = 0
    for job in jobs.order_by("finished_at")[:limit]:
        marked = VideoAnalysisJob.objects.filter(
            pk=job.pk, status__in=ENDED_STATUSES, source_deleted_at__isnull=True
        ).update(source_deleted_at=now, updated_at=now)
        if not marked:
            continue  # staff retried it meanwhile, or another worker's sweep took it
        try:
            storage.delete_object(bucket=job.s3_bucket, key=job.s3_key)
        except storage.StorageError as exc:
            VideoAnalysisJob.objects.filter(pk=job.pk, source_deleted_at=now).update(source_deleted_at=None)
            logger.warning("retention: S3 could not delete the video of job %s (%s); next sweep", job.pk, exc)
            break
        expired += 1
        logger.info("job %s: source video deleted, %s days after the job ended", job.pk, days)
    return expired
