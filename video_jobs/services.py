"""Every state transition of a video job.

Each transition is a conditional UPDATE guarded by the status the caller expects (and, for a worker, by its
lease fence), so two concurrent callers can never both move a job: a row count of 0 means someone else got
there first. S3 calls happen before the UPDATE, never inside a transaction. Nothing moves a job to
``queued`` without a successful HeadObject of its own key in the same code path.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import metrics, storage
from .models import UPLOAD_ERROR_CODES, ErrorCode, VideoAnalysisJob

logger = logging.getLogger(__name__)

Status = VideoAnalysisJob.Status
Stage = VideoAnalysisJob.Stage

# The PostgreSQL channel on which a job id is announced when it becomes queued.
QUEUED_CHANNEL = "video_jobs_queued"

# Which jobs each transition may start from. The admin's confirmation pages preview with the same
# conditions; the guarded UPDATEs below are what decide.
CANCELLABLE = Q(status__in=[Status.AWAITING_UPLOAD, Status.QUEUED])
REVERIFIABLE = Q(status=Status.AWAITING_UPLOAD) | Q(
    status=Status.FAILED, error_code__in=list(UPLOAD_ERROR_CODES)
)
RETRYABLE = Q(status=Status.FAILED) & ~Q(error_code__in=list(UPLOAD_ERROR_CODES))


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key was sent again with a different request body."""

    def __init__(self, job: VideoAnalysisJob) -> None:
        super().__init__(f"Idempotency-Key already used for job {job.pk} with other parameters")
        self.job = job


class Outcome(enum.StrEnum):
    """What a verification did. The values double as the metric label."""

    QUEUED = "queued"
    MISSING = "missing"
    SIZE_MISMATCH = "size_mismatch"
    TOO_LARGE = "too_large"
    TRANSIENT = "transient"
    NOT_ELIGIBLE = "not_eligible"


@dataclass(frozen=True)
class VerifyResult:
    outcome: Outcome
    job: VideoAnalysisJob
    # True only for the one caller whose UPDATE moved the job.
    changed: bool
    detail: str = ""


# --- helpers -----------------------------------------------------------------------------------------------


def _notify_queued(job_ids: Iterable[object]) -> None:
    # Sent inside the UPDATE's transaction, so PostgreSQL delivers it at commit and never for a rollback.
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for job_id in job_ids:
            cursor.execute("SELECT pg_notify(%s, %s)", [QUEUED_CHANNEL, str(job_id)])


def _move(job: VideoAnalysisJob, guard: Q, **fields: Any) -> bool:
    """UPDATE the job WHERE ``guard``, then reload it (callers show the winner's state either way).

    Returns whether this call moved it.
    """
    fields.setdefault("updated_at", timezone.now())
    moved = _update(job, fields, lambda: VideoAnalysisJob.objects.filter(guard, pk=job.pk).update(**fields))
    job.refresh_from_db()
    if moved:
        metrics.observe_transition(job)
    return moved


def _update(job: VideoAnalysisJob, fields: dict[str, Any], run: Callable[[], int]) -> bool:
    """Run the UPDATE of ``fields`` (``run`` returns its row count); when it queues the job, announce it.

    A lone UPDATE is already its own transaction; only a NOTIFY must share one with it, so that it is
    delivered at commit and never for a rollback. Skipping BEGIN/COMMIT otherwise saves two round trips.
    """
    queues = fields.get("status") == Status.QUEUED
    with transaction.atomic() if queues else contextlib.nullcontext():
        moved = run() == 1
        if moved and queues:
            _notify_queued([job.pk])
    return moved


def _run_hot(sql: str, params: Any, *, fetch: bool = False) -> tuple[int, tuple[Any, ...] | None]:
    """Run one of the worker's per-job statements (the claim, the fenced writes); returns the row count
    and, with ``fetch``, the first row.

    On PostgreSQL it runs as a prepared statement with server-side parameters, parsed and planned once per
    connection rather than once per job (Django's own cursors bind on the client and never prepare, for
    the sake of connection poolers; VIDEO_JOBS_PREPARED_STATEMENTS=0 does the same here).
    """
    # The wrapper itself, not the thread-local proxy `connection`, which costs a look-up per attribute.
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or not settings.VIDEO_JOBS_PREPARED_STATEMENTS:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount, cursor.fetchone() if fetch else None
    db.ensure_connection()
    started = time.monotonic()
    # Django's error wrapping, so callers see django.db errors (a dropped connection is OperationalError).
    # prepare=True works because settings give the connection a prepare_threshold (Django's is None).
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        result = cursor.rowcount, cursor.fetchone() if fetch else None
    if db.queries_logged:  # keep CaptureQueriesContext and DEBUG's query log complete
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return result


# One UPDATE statement per set of columns written, built once with the fields whose values need Django's
# conversion for the database: the worker writes the same few shapes for every job, and compiling them
# through the ORM each time cost more than the database round trip.
_FENCED_SQL: dict[tuple[str, ...], tuple[str, list[Any]]] = {}
# Values of these pass to the driver as they are: str, int, None, and on PostgreSQL the aware datetimes
# the worker writes (timezone.now() and sums of it).
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField)
_PLAIN_FIELDS_POSTGRES = (*_PLAIN_FIELDS, models.DateTimeField)


def _fenced_statement(job: VideoAnalysisJob, fields: dict[str, Any]) -> tuple[str, list[Any]]:
    """The UPDATE of ``fields`` WHERE the lease fence holds (``id``, ``status='processing'``,
    ``worker_id``, ``attempts``), with its parameters."""
    meta = VideoAnalysisJob._meta
    names = tuple(fields)
    compiled = _FENCED_SQL.get(names)
    if compiled is None:
        quote = connection.ops.quote_name
        assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in names)
        sql = (
            f"UPDATE {quote(meta.db_table)} SET {assignments} "
            f"WHERE {quote('id')} = %s AND {quote('status')} = %s "
            f"AND {quote('worker_id')} = %s AND {quote('attempts')} = %s"
        )
        fields_to_prep = [meta.get_field(name) for name in names]
        plain = _PLAIN_FIELDS_POSTGRES if connection.vendor == "postgresql" else _PLAIN_FIELDS
        preps = [None if isinstance(field, plain) else field for field in fields_to_prep]
        compiled = _FENCED_SQL[names] = (sql, preps)
    sql, preps = compiled
    db = connections[DEFAULT_DB_ALIAS]
    params = [
        value if prep is None else prep.get_db_prep_save(value, db)
        for prep, value in zip(preps, fields.values(), strict=True)
    ]
    params += [meta.pk.get_db_prep_value(job.pk, db), Status.PROCESSING.value]
    params += [job.worker_id, job.attempts]
    return sql, params


def _fenced_moved(job: VideoAnalysisJob, fields: dict[str, Any]) -> None:
    """A fenced write went through: apply it to ``job`` in memory and observe it."""
    for name, value in fields.items():
        setattr(job, name, value)
    metrics.observe_transition(job)


def _fenced_write(job: VideoAnalysisJob, **fields: Any) -> bool:
    """UPDATE the running job only while the lease fence holds; apply the change to ``job`` in memory.

    False: another worker owns the job now, and nothing was written.
    """
    fields.setdefault("updated_at", timezone.now())
    sql, params = _fenced_statement(job, fields)
    moved = _update(job, fields, lambda: _run_hot(sql, params)[0])
    if moved:
        _fenced_moved(job, fields)
    return moved


def _fence(job: VideoAnalysisJob) -> Q:
    """The lease fence: only the worker holding this very attempt may write."""
    return Q(status=Status.PROCESSING, worker_id=job.worker_id, attempts=job.attempts)


def _queued_fields(now: datetime) -> dict[str, Any]:
    return {
        "status": Status.QUEUED,
        "stage": Stage.QUEUED,
        "progress": 0,
        "queued_at": now,
        "run_after": now,
        "worker_id": "",
        "lease_expires_at": None,
    }


def _failed_fields(code: str, message: str, now: datetime) -> dict[str, Any]:
    return {
        "status": Status.FAILED,
        "stage": Stage.FAILED,
        "error_code": code,
        "error_message": message[:2000],
        "finished_at": now,
        "worker_id": "",
        "lease_expires_at": None,
    }


def _percent(progress: float) -> int:
    return max(0, min(100, int(progress)))


def backoff_delay(attempts: int) -> timedelta:
    """Exponential backoff with jitter for the retry after attempt number ``attempts``."""
    base = float(settings.VIDEO_JOBS_RETRY_BACKOFF_BASE)
    cap = float(settings.VIDEO_JOBS_RETRY_BACKOFF_MAX)
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    # "Equal jitter": at least half the delay, so retries never stampede back at once.
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


# --- upload lifecycle (API) --------------------------------------------------------------------------------


def initiate_upload(
    *,
    owner: Any,
    filename: str,
    content_type: str,
    size_bytes: int,
    sha256: str = "",
    idempotency_key: str | None = None,
) -> tuple[VideoAnalysisJob, bool]:
    """Create a job awaiting its upload. Returns ``(job, created)``.

    A retried call with the same ``idempotency_key`` returns the first job (``created`` False); the same
    key with other parameters raises IdempotencyKeyReused.
    """
    declared = {
        "filename": filename,
        "content_type": content_type,
        "size_bytes": size_bytes,
        "sha256": sha256,
    }

    def replay() -> tuple[VideoAnalysisJob, bool] | None:
        existing = VideoAnalysisJob.objects.filter(owner=owner, idempotency_key=idempotency_key).first()
        if existing is None:
            return None
        if any(getattr(existing, field) != value for field, value in declared.items()):
            raise IdempotencyKeyReused(existing)
        return existing, False

    if idempotency_key:
        found = replay()
        if found:
            return found

    now = timezone.now()
    job_id = uuid.uuid4()
    job = VideoAnalysisJob(
        id=job_id,
        owner=owner,
        status=Status.AWAITING_UPLOAD,
        stage=Stage.AWAITING_UPLOAD,
        s3_bucket=storage.bucket_name(),
        s3_key=storage.video_key(job_id),
        idempotency_key=idempotency_key or None,
        max_attempts=settings.VIDEO_JOBS_MAX_ATTEMPTS,
        created_at=now,
        upload_deadline=now + timedelta(seconds=settings.VIDEO_JOBS_UPLOAD_DEADLINE),
        **declared,
    )
    try:
        with transaction.atomic():
            job.save(force_insert=True)
    except IntegrityError:
        # Two retries of one initiate raced; the other one inserted first.
        if idempotency_key:
            found = replay()
            if found:
                return found
        raise
    logger.info("job %s initiated by user %s (%s bytes)", job.pk, owner.pk, size_bytes)
    return job, True


def _verify_and_queue(
    job: VideoAnalysisJob,
    *,
    eligible: Q,
    fail_bad_upload: bool,
    missing_code: ErrorCode = ErrorCode.UPLOAD_MISSING,
    reset_attempts: bool = False,
) -> VerifyResult:
    """HeadObject the job's own key, then queue it (or fail it) with a guarded UPDATE.

    ``eligible`` is the condition the row must still meet for the UPDATE; it is checked before the S3 call
    too, so an ineligible job never costs one. With ``fail_bad_upload`` False, a
    missing or wrong-sized object leaves the job as it was (staff re-verification never makes a job worse).
    """
    job.refresh_from_db()
    if not VideoAnalysisJob.objects.filter(eligible, pk=job.pk).exists():
        return VerifyResult(Outcome.NOT_ELIGIBLE, job, changed=False, detail=f"job is {job.status}")
    guard = eligible & Q(status=job.status)
    max_bytes = int(settings.VIDEO_JOBS_MAX_UPLOAD_BYTES)

    info: storage.ObjectInfo | None
    try:
        info = storage.head(key=job.s3_key)
    except storage.ObjectMissing as exc:
        info = None
        outcome, code, detail = Outcome.MISSING, missing_code, str(exc)
    except storage.StorageUnavailable as exc:
        logger.warning("job %s: verification could not reach S3: %s", job.pk, exc)
        _count_verification(Outcome.TRANSIENT)
        return VerifyResult(Outcome.TRANSIENT, job, changed=False, detail=str(exc))
    # Stamped once S3 has answered, not before the HeadObject: queued_at is when the job became claimable
    # (pickup latency is measured from it).
    now = timezone.now()
    if info is not None:
        if info.size > max_bytes:
            outcome, code = Outcome.TOO_LARGE, ErrorCode.UPLOAD_TOO_LARGE
            detail = f"object is {info.size} bytes, the maximum is {max_bytes}"
        elif info.size != job.size_bytes:
            outcome, code = Outcome.SIZE_MISMATCH, ErrorCode.UPLOAD_SIZE_MISMATCH
            detail = f"object is {info.size} bytes, {job.size_bytes} were declared"
        else:
            fields = _queued_fields(now)
            fields.update(
                verified_at=now,
                object_size=info.size,
                object_etag=info.etag,
                error_code="",
                error_message="",
                finished_at=None,
            )
            if reset_attempts:
                fields["attempts"] = 0
            moved = _move(job, guard, **fields)
            # Counted once the job is claimable: a metric write before the UPDATE would delay its pickup.
            _count_verification(Outcome.QUEUED)
            if moved:
                logger.info(
                    "job %s verified (%s bytes, etag %s) and queued",
                    job.pk,
                    info.size,
                    info.etag,
                )
            return VerifyResult(Outcome.QUEUED, job, changed=moved)

    _count_verification(outcome)
    if not fail_bad_upload:
        logger.info("job %s left as %s: %s", job.pk, job.status, detail)
        return VerifyResult(outcome, job, changed=False, detail=detail)
    moved = _move(job, guard, **_failed_fields(code, detail, now))
    if moved:
        logger.info("job %s failed verification: %s (%s)", job.pk, code, detail)
    return VerifyResult(outcome, job, changed=moved, detail=detail)


def _count_verification(outcome: Outcome) -> None:
    metrics.record_event(metrics.UPLOAD_VERIFICATIONS, {"outcome": outcome.value})


def complete_upload(*, job: VideoAnalysisJob) -> VerifyResult:
    """The client says its PUT finished: verify the object and queue the job, exactly once.

    Idempotent: a job already past ``awaiting_upload`` is returned unchanged without touching S3.
    """
    return _verify_and_queue(job, eligible=Q(status=Status.AWAITING_UPLOAD), fail_bad_upload=True)


def cancel_job(*, job: VideoAnalysisJob) -> bool:
    """Cancel a job that no worker has started. Returns False (job unchanged) from any other status."""
    now = timezone.now()
    moved = _move(
        job,
        CANCELLABLE,
        status=Status.CANCELLED,
        stage=Stage.CANCELLED,
        finished_at=now,
    )
    if moved:
        logger.info("job %s cancelled", job.pk)
    return moved


# --- staff recovery (admin) --------------------------------------------------------------------------------


def reverify_upload(*, job: VideoAnalysisJob) -> VerifyResult:
    """Staff force-queue of a stuck upload: queue only what HeadObject proves is there.

    Eligible: ``awaiting_upload``, or ``failed`` with an upload error. A missing or wrong-sized object
    leaves the job as it was, with the reason in the result (the client may still be uploading).
    """
    return _verify_and_queue(job, eligible=REVERIFIABLE, fail_bad_upload=False, reset_attempts=True)


def retry_failed_job(*, job: VideoAnalysisJob) -> VerifyResult:
    """Staff retry of a job that failed while processing: re-verify S3, then queue with attempts reset."""
    return _verify_and_queue(job, eligible=RETRYABLE, fail_bad_upload=False, reset_attempts=True)


def requeue_stale_job(*, job: VideoAnalysisJob, now: datetime | None = None) -> bool:
    """Take back a processing job whose lease expired: queue it again, or fail it as ``lost``.

    The guard repeats the fence and the expiry, so a worker that renewed its lease meanwhile keeps its job.
    """
    now = now or timezone.now()
    guard = _fence(job) & Q(lease_expires_at__lt=now)
    if job.attempts >= job.max_attempts:
        message = f"lease expired {job.attempts} times (last worker {job.worker_id})"
        moved = _move(job, guard, **_failed_fields(ErrorCode.LOST, message, now))
    else:
        fields = _queued_fields(now)
        fields["run_after"] = now + backoff_delay(job.attempts)
        fields["error_message"] = f"lease of worker {job.worker_id} expired"
        moved = _move(job, guard, **fields)
    if moved:
        logger.warning(
            "job %s: lease expired, now %s (attempt %s)",
            job.pk,
            job.status,
            job.attempts,
        )
    return moved


# --- worker ------------------------------------------------------------------------------------------------


# What the worker, its analyzer and its metrics read of a claimed job. The rest (``result``, which can be
# large, and timestamps the worker never looks at) is deferred: loaded on first access, if ever. Each
# timestamp returned costs a parse on every claim.
_CLAIMED = [
    field
    for field in VideoAnalysisJob._meta.concrete_fields
    if field.name
    not in {
        "result",
        "idempotency_key",
        "verified_at",
        "run_after",
        "created_at",
        "updated_at",
        "upload_deadline",
        "finished_at",
    }
]
_CLAIM_FIELDS = [field.attname for field in _CLAIMED]
_CLAIM_SQL_POSTGRES = """
UPDATE video_jobs_videoanalysisjob
   SET status = 'processing', stage = 'downloading', progress = 0, worker_id = %s,
       attempts = attempts + 1, lease_expires_at = %s, started_at = %s, updated_at = %s
 WHERE id = (
       SELECT id FROM video_jobs_videoanalysisjob
        -- A literal, not a parameter: a prepared statement's generic plan can only use the partial
        -- index (WHERE status = 'queued') when the planner sees the value itself.
        WHERE status = 'queued' AND run_after <= %s
        ORDER BY run_after, created_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED)
RETURNING """ + ", ".join(f'"{field.column}"' for field in _CLAIMED)


def _claim_params(worker_id: str, lease_seconds: int | None) -> list[Any]:
    now = timezone.now()
    lease = now + timedelta(seconds=lease_seconds or settings.VIDEO_JOBS_LEASE_SECONDS)
    return [worker_id, lease, now, now, now]


def _claimed(row: tuple[Any, ...] | None) -> VideoAnalysisJob | None:
    """The job from a claim's RETURNING row, built without the ORM's per-query set-up (which cost more
    than the claim's round trip); the fields left out of _CLAIMED are deferred."""
    if row is None:
        return None
    job = VideoAnalysisJob.from_db(connection.alias, _CLAIM_FIELDS, row)
    metrics.observe_claim(job)
    return job


def claim_next_job(*, worker_id: str, lease_seconds: int | None = None) -> VideoAnalysisJob | None:
    """Claim the oldest claimable job for ``worker_id``, or return None when there is none.

    PostgreSQL: one statement (its own short transaction) that locks the next queued row with
    SKIP LOCKED, so concurrent workers never wait on or take the same row. SQLite: pick a candidate, then a
    conditional UPDATE; losing the race just means trying the next candidate.
    """
    if connection.vendor == "postgresql":
        # One statement in autocommit is one short transaction: the row lock lives exactly as long as the
        # UPDATE, and no BEGIN/COMMIT round trips are added to every claim.
        params = _claim_params(worker_id, lease_seconds)
        return _claimed(_run_hot(_CLAIM_SQL_POSTGRES, params, fetch=True)[1])

    lease_seconds = lease_seconds or settings.VIDEO_JOBS_LEASE_SECONDS
    now = timezone.now()
    lease = now + timedelta(seconds=lease_seconds)

    for _ in range(10):
        candidate = (
            VideoAnalysisJob.objects.claimable(now=now)
            .order_by("run_after", "created_at")
            .values_list("pk", flat=True)
            .first()
        )
        if candidate is None:
            return None
        moved = (
            VideoAnalysisJob.objects.filter(pk=candidate, status=Status.QUEUED).update(
                status=Status.PROCESSING,
                stage=Stage.DOWNLOADING,
                progress=0,
                worker_id=worker_id,
                attempts=F("attempts") + 1,
                lease_expires_at=lease,
                started_at=now,
                updated_at=now,
            )
            == 1
        )
        if moved:
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
    lease_seconds = lease_seconds or settings.VIDEO_JOBS_LEASE_SECONDS
    now = timezone.now()
    fields: dict[str, Any] = {"lease_expires_at": now + timedelta(seconds=lease_seconds), "updated_at": now}
    if stage is not None:
        fields["stage"] = stage
    if progress is not None:
        fields["progress"] = _percent(progress)
    return _fenced_write(job, **fields)


def report_progress(*, job: VideoAnalysisJob, stage: str, progress: int) -> bool:
    """Record stage and progress (0-100) of a running job, fenced. False means the lease is lost."""
    return _fenced_write(job, stage=stage, progress=_percent(progress))


def _done_fields(result: dict[str, Any]) -> dict[str, Any]:
    now = timezone.now()
    return {
        "status": Status.DONE,
        "stage": Stage.DONE,
        "progress": 100,
        "result": result,
        "error_code": "",
        "error_message": "",
        "finished_at": now,
        "lease_expires_at": None,
        "updated_at": now,
    }


def finish_job(*, job: VideoAnalysisJob, result: dict[str, Any]) -> bool:
    """Store the result and mark the job done, fenced. False means another worker owns it now."""
    return _fenced_write(job, **_done_fields(result))


# Both UPDATEs in one statement, so one round trip and one commit. A finish that does not go through (the
# fence failed) still claims, as the worker would have anyway.
_FINISH_AND_CLAIM_SQL = """
WITH finished AS ({finish} RETURNING 1),
     claimed AS ({claim})
SELECT (SELECT count(*) FROM finished), claimed.* FROM (SELECT 1) AS one LEFT JOIN claimed ON true
"""


def finish_job_and_claim_next(
    *, job: VideoAnalysisJob, result: dict[str, Any], lease_seconds: int | None = None
) -> tuple[bool, VideoAnalysisJob | None]:
    """``finish_job``, then ``claim_next_job`` for the same worker; on PostgreSQL in one statement.

    A busy worker's loop then costs one commit per job instead of two. Returns (finished, next job).
    """
    fields = _done_fields(result)
    if connection.vendor != "postgresql":
        finished = _fenced_write(job, **fields)
        return finished, claim_next_job(worker_id=job.worker_id, lease_seconds=lease_seconds)
    finish_sql, finish_params = _fenced_statement(job, fields)
    sql = _FINISH_AND_CLAIM_SQL.format(finish=finish_sql, claim=_CLAIM_SQL_POSTGRES)
    params = finish_params + _claim_params(job.worker_id, lease_seconds)
    row = _run_hot(sql, params, fetch=True)[1]
    assert row is not None  # the LEFT JOIN always answers one row
    if row[0] == 1:
        _fenced_moved(job, fields)
    return row[0] == 1, _claimed(row[1:] if row[1] is not None else None)


def fail_job(*, job: VideoAnalysisJob, code: ErrorCode, message: str) -> bool:
    """Fail a running job at once with a permanent error code, fenced."""
    moved = _fenced_write(job, **_failed_fields(code, message, timezone.now()))
    if moved:
        logger.info("job %s failed: %s (%s)", job.pk, code, message)
    return moved


def retry_job(*, job: VideoAnalysisJob, message: str) -> bool:
    """A transient failure: queue again after a backoff, or fail as attempts_exhausted. Fenced."""
    now = timezone.now()
    if job.attempts >= job.max_attempts:
        moved = _fenced_write(job, **_failed_fields(ErrorCode.ATTEMPTS_EXHAUSTED, message, now))
    else:
        fields = _queued_fields(now)
        fields["run_after"] = now + backoff_delay(job.attempts)
        fields["error_message"] = message[:2000]
        moved = _fenced_write(job, **fields)
    if moved:
        logger.warning("job %s: transient failure (%s), now %s", job.pk, message, job.status)
    return moved


def release_job(*, job: VideoAnalysisJob) -> bool:
    """Hand a running job back to the queue on a graceful stop, without counting the attempt."""
    fields = _queued_fields(timezone.now())
    # The fence pins attempts to job.attempts, so this is attempts - 1 of the row itself.
    fields["attempts"] = job.attempts - 1
    moved = _fenced_write(job, **fields)
    if moved:
        logger.info("job %s handed back to the queue", job.pk)
    return moved


# --- recovery sweeps (every worker runs these periodically) ------------------------------------------------


def requeue_expired_leases(*, now: datetime | None = None, limit: int = 100) -> int:
    """Requeue (or fail as lost) processing jobs whose lease expired. Returns how many moved."""
    now = now or timezone.now()
    moved = 0
    for job in VideoAnalysisJob.objects.lease_expired(now=now).order_by("lease_expires_at")[:limit]:
        moved += requeue_stale_job(job=job, now=now)
    return moved


def reconcile_expired_uploads(*, now: datetime | None = None, limit: int = 100) -> dict[Outcome, int]:
    """Settle uploads past their deadline: HeadObject first; present → queued, absent → upload_expired.

    When S3 cannot answer the job stays as it is, to be tried on the next sweep, and the sweep stops there:
    with S3 down, each further HeadObject would only hold the worker for another timeout.
    """
    now = now or timezone.now()
    counts: dict[Outcome, int] = {}
    for job in VideoAnalysisJob.objects.upload_deadline_passed(now=now).order_by("upload_deadline")[:limit]:
        result = _verify_and_queue(
            job,
            eligible=Q(status=Status.AWAITING_UPLOAD),
            fail_bad_upload=True,
            missing_code=ErrorCode.UPLOAD_EXPIRED,
        )
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
        if result.outcome == Outcome.TRANSIENT:
            break
    return counts
