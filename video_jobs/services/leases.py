"""The lease protocol of a running job: claim, renew, progress, finish, fail, retry, hand back, and the
sweep that takes back jobs whose lease expired.

Every write a worker makes about its job is fenced (``machinery.fenced_write``): it goes through only while
the row is still ``processing`` under this worker's id and attempt, so a worker that lost its lease writes
nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import F, Q

from ..clock import DatabaseNow
from ..models import ErrorCode, VideoAnalysisJob
from ..ops import metrics
from ..webhooks import outbox
from ..webhooks.models import EventType
from . import sql
from .machinery import (
    applied,
    backoff_delay,
    done_fields,
    error_fields,
    failed_fields,
    fence,
    fenced_write,
    lease_length,
    lease_until,
    move_or_show_winner,
    percent,
    queued_fields,
    retry_or_give_up,
)

logger = logging.getLogger(__name__)

Status = VideoAnalysisJob.Status
Stage = VideoAnalysisJob.Stage


def claim_params(worker_id: str, lease_seconds: int | None) -> list[Any]:
    # The statement computes every time itself, from the database's clock: only the lease's length is ours.
    return [worker_id, lease_length(lease_seconds)]


def _claimed(row: tuple[Any, ...] | None) -> VideoAnalysisJob | None:
    """The job from a claim's RETURNING row, built without the ORM's per-query set-up (which cost more
    than the claim's round trip); the fields the claim does not return are deferred."""
    if row is None:
        return None
    job: VideoAnalysisJob = sql.CLAIMED.load(row)
    metrics.observe_claim(job)
    return job


def claim_next_job(*, worker_id: str, lease_seconds: int | None = None) -> VideoAnalysisJob | None:
    """Claim the oldest claimable job for ``worker_id``, or return None when there is none.

    PostgreSQL: one statement (its own short transaction) that locks the next queued row with
    SKIP LOCKED, so concurrent workers never wait on or take the same row. SQLite: pick a candidate, then a
    conditional UPDATE; losing the race just means trying the next candidate.
    """
    if sql.is_postgresql():
        # One statement in autocommit is one short transaction: the row lock lives exactly as long as the
        # UPDATE, and no BEGIN/COMMIT round trips are added to every claim.
        return _claimed(sql.run_hot(sql.CLAIM_SQL, claim_params(worker_id, lease_seconds), fetch=True)[1])

    for _ in range(10):
        candidate = (
            VideoAnalysisJob.objects.claimable()
            .order_by("run_after", "created_at")
            .values_list("pk", flat=True)
            .first()
        )
        if candidate is None:
            return None
        moved = VideoAnalysisJob.objects.filter(pk=candidate, status=Status.QUEUED).update(
            status=Status.PROCESSING,
            stage=Stage.DOWNLOADING,
            progress=0,
            worker_id=worker_id,
            attempts=F("attempts") + 1,
            lease_expires_at=lease_until(lease_seconds),
            started_at=DatabaseNow(),
            updated_at=DatabaseNow(),
        )
        if moved == 1:
            job = VideoAnalysisJob.objects.get(pk=candidate)
            metrics.observe_claim(job)
            return job
    return None


def renew_lease(
    *,
    job: VideoAnalysisJob,
    lease_seconds: int | None = None,
    stage: str | None = None,
    progress: int | None = None,
) -> bool:
    """Heartbeat: extend the lease. False means the worker lost the job and must stop writing.

    ``stage`` and ``progress``, when given, ride along in the same UPDATE (a progress report the worker
    held back to save a write).
    """
    fields: dict[str, Any] = {"lease_expires_at": lease_until(lease_seconds), "updated_at": DatabaseNow()}
    if stage is not None:
        fields["stage"] = stage
    if progress is not None:
        fields["progress"] = percent(progress)
    return fenced_write(job, **fields)


def report_progress(*, job: VideoAnalysisJob, stage: str, progress: int) -> bool:
    """Record stage and progress (0-100) of a running job, fenced. False means the lease is lost."""
    return fenced_write(job, stage=stage, progress=percent(progress))


def finish_job(*, job: VideoAnalysisJob, result: dict[str, Any]) -> bool:
    """Store the result and mark the job done, fenced. False means another worker owns it now.

    On PostgreSQL one statement also writes the job's ``done`` webhook deliveries (as finish-and-claim
    does), instead of a transaction around the UPDATE and the outbox insert.
    """
    fields = done_fields(result)
    if not sql.is_postgresql():
        return fenced_write(job, **fields)
    update = sql.fenced_update(job, fields, outbox.SNAPSHOT_COLUMNS)
    events_sql, events_params = outbox.job_event_from(source="finished", event_type=EventType.JOB_DONE)
    statement = sql.finish_with_events(update.sql, update.clock_names, events_sql)
    row = sql.run_hot(statement, [*update.params, *events_params], fetch=True)[1]
    assert row is not None  # the statement always answers one row
    written = update.written(row[: update.width])
    if written is not None:
        applied(job, {**fields, **written})
    return written is not None


def finish_job_and_claim_next(
    *, job: VideoAnalysisJob, result: dict[str, Any], lease_seconds: int | None = None
) -> tuple[bool, VideoAnalysisJob | None]:
    """``finish_job``, then ``claim_next_job`` for the same worker; on PostgreSQL in one statement.

    A busy worker's loop then costs one commit per job instead of two. Returns (finished, next job).
    """
    fields = done_fields(result)
    if not sql.is_postgresql():
        finished = fenced_write(job, **fields)
        return finished, claim_next_job(worker_id=job.worker_id, lease_seconds=lease_seconds)
    update = sql.fenced_update(job, fields, outbox.SNAPSHOT_COLUMNS)
    events_sql, events_params = outbox.job_event_from(source="finished", event_type=EventType.JOB_DONE)
    statement = sql.finish_and_claim(update.sql, update.clock_names, events_sql)
    params = [*update.params, *events_params, *claim_params(job.worker_id, lease_seconds)]
    row = sql.run_hot(statement, params, fetch=True)[1]
    assert row is not None  # the statement always answers one row
    written = update.written(row[: update.width])
    if written is not None:
        applied(job, {**fields, **written})
    claimed = row[update.width + 1 :]  # after the finish's columns and the count of webhook NOTIFYs
    return written is not None, _claimed(claimed if claimed[0] is not None else None)


def fail_job(*, job: VideoAnalysisJob, code: ErrorCode, message: str, detail: str = "") -> bool:
    """Fail a running job at once with a permanent error code, fenced. ``message`` is the client's,
    ``detail`` the staff's (see ``machinery.error_fields``)."""
    moved = fenced_write(job, **failed_fields(code, message, detail=detail))
    if moved:
        logger.info("job %s failed: %s (%s)", job.pk, code, detail or message)
    return moved


def retry_job(
    *,
    job: VideoAnalysisJob,
    message: str,
    detail: str = "",
    give_up_code: ErrorCode = ErrorCode.ATTEMPTS_EXHAUSTED,
) -> bool:
    """A transient failure: queue again after a backoff or, with no attempts left, fail with
    ``give_up_code`` (attempts_exhausted, or what failed every attempt: analysis_timeout, ...). Fenced."""
    fields = retry_or_give_up(job, give_up_code=give_up_code, message=message, detail=detail)
    moved = fenced_write(job, **fields)
    if moved:
        logger.warning("job %s: transient failure (%s), now %s", job.pk, detail or message, job.status)
    return moved


def release_job(*, job: VideoAnalysisJob) -> bool:
    """Hand a running job back to the queue on a graceful stop, without counting the attempt."""
    moved = fenced_write(job, **_uncounted(job, queued_fields()))
    if moved:
        logger.info("job %s handed back to the queue", job.pk)
    return moved


def postpone_job(*, job: VideoAnalysisJob, message: str, detail: str = "") -> bool:
    """A configuration fault (the S3 bucket, credentials, permissions) stopped the attempt: nothing about the
    job itself. Queue it again after the longest backoff, without counting the attempt, so that a fault
    fixed within minutes fails no one's job. ``message`` is the client's, ``detail`` the staff's (see
    ``machinery.error_fields``). Fenced."""
    fields = queued_fields()
    fields["run_after"] = DatabaseNow(backoff_delay(None))
    fields.update(error_fields(message, detail))
    moved = fenced_write(job, **_uncounted(job, fields))
    if moved:
        logger.warning("job %s postponed, attempt not counted: %s", job.pk, detail or message)
    return moved


def _uncounted(job: VideoAnalysisJob, fields: dict[str, Any]) -> dict[str, Any]:
    # The fence pins attempts to job.attempts, so this is attempts - 1 of the row itself.
    fields["attempts"] = job.attempts - 1
    return fields


def requeue_stale_job(*, job: VideoAnalysisJob) -> bool:
    """Take back a processing job whose lease expired: queue it again, or fail it as ``lost``.

    The guard repeats the fence and the expiry (by the database's clock), so a worker that renewed its
    lease meanwhile keeps its job.
    """
    guard = fence(job) & Q(lease_expires_at__lt=DatabaseNow())
    attempt = f"attempt {job.attempts} of {job.max_attempts}"
    # The client hears that processing stopped; which worker it was is for staff.
    message = f"Processing was interrupted: the worker stopped responding ({attempt})."
    detail = f"lease of worker {job.worker_id} expired at {job.lease_expires_at} ({attempt})"
    fields = retry_or_give_up(job, give_up_code=ErrorCode.LOST, message=message, detail=detail)
    moved = move_or_show_winner(job, guard, **fields)
    if moved:
        logger.warning("job %s: lease expired, now %s (attempt %s)", job.pk, job.status, job.attempts)
    return moved


def requeue_expired_leases(*, limit: int = 100) -> int:
    """Requeue (or fail as lost) processing jobs whose lease expired. Returns how many moved."""
    moved = 0
    for job in VideoAnalysisJob.objects.lease_expired().order_by("lease_expires_at")[:limit]:
        moved += requeue_stale_job(job=job)
    return moved
