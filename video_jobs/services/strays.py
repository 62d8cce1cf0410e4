"""Objects no row keeps: a job's source object exists only while a row says it should.

An upload URL stays valid until it expires (VIDEO_JOBS_UPLOAD_URL_EXPIRES), whatever happens to its job
meanwhile, so bytes may arrive for a job that was deleted, cancelled or failed before its upload. Two sweeps
of the workers' housekeeping remove them:

- ``sweep_tombstones``: a job's row is never deleted without a tombstone (``bury``, in the same
  transaction, however the row goes: the API, the admin, its owner's deletion). The sweep deletes the job's
  folder and aborts its multipart upload at once, again once every URL handed out for the job has expired,
  and then drops the tombstone. With S3 down, the tombstone waits for the next sweep: nothing is forgotten.
- ``sweep_stray_objects``: one bounded page of the job folders under ``videos/`` at a time; a folder whose
  job is gone, or cancelled or failed without a verified upload once its URLs have expired, is deleted.
  Folders are judged by the job id in their name and the job's row alone: nothing the client sent.

A job gives its pending-upload place back only when its URLs have expired (``quotas``): tombstones and jobs
given up before their upload count against it until then, so one user cannot store more than their
pending-uploads quota of late uploads at a time.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce

from ..clock import DatabaseNow, database_now
from ..models import GIVEN_UP_STATUSES, UploadTombstone, VideoAnalysisJob
from ..s3 import multipart, storage

logger = logging.getLogger(__name__)

# A presigned URL lasts from the signing process's clock, which may run ahead of the database's; S3 itself
# accepts a request time up to 15 minutes off its own.
URL_CLOCK_MARGIN = timedelta(minutes=15)
# When S3 could not sweep a tombstone, it is tried again this much later.
RETRY_AFTER = timedelta(minutes=5)


def url_lifetime() -> timedelta:
    """How long after a job stopped awaiting its upload a URL handed out for it may still write."""
    return timedelta(seconds=int(settings.VIDEO_JOBS_UPLOAD_URL_EXPIRES)) + URL_CLOCK_MARGIN


def bury(job: VideoAnalysisJob) -> None:
    """Write the tombstone of ``job``, whose row is being deleted (call it in that transaction).

    URLs are handed out only while a job awaits its upload, so the last one expires ``url_lifetime`` after
    the job left ``awaiting_upload``: at verification, or when it ended before; now, if it never left.
    """
    left_awaiting = job.verified_at or job.finished_at
    lifetime = url_lifetime()
    try:
        # A savepoint: two racing deletions of one row both get here, and the second finds the first's
        # tombstone (then deletes no row, and hears that another deletion won).
        with transaction.atomic():
            UploadTombstone.objects.create(
                job_id=job.pk,
                owner_id=job.owner_id,
                s3_bucket=job.s3_bucket,
                upload_id=job.upload_id,
                urls_expire_at=left_awaiting + lifetime if left_awaiting else DatabaseNow(lifetime),
                sweep_after=DatabaseNow(),
            )
    except IntegrityError:
        pass


def on_job_deleted(sender: Any, instance: VideoAnalysisJob, **kwargs: Any) -> None:
    """The pre_delete receiver (apps.py): every deleted job row leaves its tombstone."""
    bury(instance)


def sweep_tombstones(*, limit: int = 100) -> int:
    """Sweep the tombstones that are due; returns how many folders were swept.

    Each: 1. abort its multipart upload, delete its folder; 2. drop the tombstone when that happened after
    its URLs expired, else come back then. Both writes are guarded by the ``sweep_after`` read, so two
    workers sweeping one tombstone write once. When S3 cannot answer, the sweep stops there, and that
    tombstone waits RETRY_AFTER, behind the others.
    """
    now = database_now()
    swept = 0
    for tombstone in UploadTombstone.objects.filter(sweep_after__lte=now).order_by("sweep_after")[:limit]:
        try:
            if tombstone.upload_id:
                key = storage.video_key(tombstone.job_id)
                multipart.abort(bucket=tombstone.s3_bucket, key=key, upload_id=tombstone.upload_id)
            removed = storage.delete_folder(
                bucket=tombstone.s3_bucket, prefix=storage.job_folder(tombstone.job_id)
            )
        except storage.StorageError as exc:
            # Tried again after the others (a bucket that fails alone must not hold every tombstone up).
            UploadTombstone.objects.filter(pk=tombstone.pk, sweep_after=tombstone.sweep_after).update(
                sweep_after=DatabaseNow(RETRY_AFTER)
            )
            logger.warning(
                "tombstone of job %s: S3 could not delete its objects (%s); later", tombstone.job_id, exc
            )
            break
        this = UploadTombstone.objects.filter(pk=tombstone.pk, sweep_after=tombstone.sweep_after)
        if tombstone.urls_expire_at <= now:
            this.delete()
        else:
            this.update(sweep_after=tombstone.urls_expire_at)
        swept += 1
        if removed:
            logger.info("deleted job %s: %s late object(s) removed from S3", tombstone.job_id, removed)
    return swept


def random_start() -> str:
    """A random place among the job folders: workers started together do not list the same pages."""
    return f"{storage.VIDEOS_PREFIX}{uuid.uuid4()}"


def _job_id(folder: str) -> uuid.UUID | None:
    """The job id a folder of ours is named by; None for any other name (left alone)."""
    name = folder[len(storage.VIDEOS_PREFIX) : -1]
    try:
        job_id = uuid.UUID(name)
    except ValueError:
        return None
    return job_id if str(job_id) == name else None


def sweep_stray_objects(*, start_after: str = "", limit: int = 1000) -> tuple[int, str]:
    """List one page of at most ``limit`` job folders of the configured bucket after ``start_after`` and
    delete those no row keeps. Returns how many were deleted and where the next page starts ("" at the
    end: start again).

    A folder goes when its job is gone, or when the job was cancelled or failed without a verified upload
    more than ``url_lifetime`` ago. The latter is first marked ``source_deleted_at`` (guarded by that very
    state), so staff re-verification, which refuses such a job, cannot queue it while its object goes. A
    live job, a verified one (retention deletes its video) and a job of another bucket are never touched.
    """
    bucket = storage.bucket_name()
    folders, resume = storage.list_folders(
        bucket=bucket, prefix=storage.VIDEOS_PREFIX, start_after=start_after, limit=limit
    )
    named = {job_id: folder for folder in folders if (job_id := _job_id(folder)) is not None}
    given_up_before = database_now() - url_lifetime()
    found = VideoAnalysisJob.objects.filter(pk__in=named).values_list(
        "pk", "s3_bucket", "status", "verified_at", "finished_at"
    )
    # Whether each job found may lose its folder: only one of this bucket given up before its upload, long
    # enough ago (a folder whose job is not found at all goes too).
    given_up = {
        pk: in_bucket == bucket
        and status in GIVEN_UP_STATUSES
        and verified_at is None
        and finished_at is not None
        and finished_at < given_up_before
        for pk, in_bucket, status, verified_at, finished_at in found
    }
    deleted = 0
    for job_id, folder in named.items():
        if job_id in given_up and not (given_up[job_id] and _mark_given_up(job_id, given_up_before)):
            continue
        try:
            removed = storage.delete_folder(bucket=bucket, prefix=folder)
        except storage.StorageError as exc:
            logger.warning("stray objects under %s not deleted (%s); next sweep", folder, exc)
            break
        deleted += 1
        logger.info("job %s: %s object(s) no row keeps deleted from S3", job_id, removed)
    return deleted, resume


def _mark_given_up(job_id: uuid.UUID, before: datetime) -> bool:
    """Mark the source of a job given up before its upload (and before ``before``) deleted; False when the
    job is not such a job (any more)."""
    return bool(
        VideoAnalysisJob.objects.filter(
            pk=job_id, status__in=GIVEN_UP_STATUSES, verified_at__isnull=True, finished_at__lt=before
        ).update(source_deleted_at=Coalesce(F("source_deleted_at"), DatabaseNow()), updated_at=DatabaseNow())
    )
