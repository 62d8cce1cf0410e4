"""Upload transitions, each of which asks S3 before it moves a job: initiate, upload-complete, staff
re-verification and retry, cancel, and the reconciler of abandoned uploads.

Nothing moves a job to ``queued`` without a successful HeadObject of its own key in the same code path:
every path here goes through ``_verify`` (HeadObject and classification), then makes its own short move.
S3 calls happen before the UPDATE, never inside a transaction.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from ..clock import DatabaseNow
from ..models import UPLOAD_ERROR_CODES, ErrorCode, Outcome, VideoAnalysisJob
from ..ops import metrics
from ..refusals import Refusal
from ..s3 import storage
from . import parts, quotas, sql
from .machinery import JobGone, failed_fields, move_or_show_winner, queued_fields, reload

logger = logging.getLogger(__name__)

Status = VideoAnalysisJob.Status
Stage = VideoAnalysisJob.Stage

# Which jobs each transition may start from. The admin's confirmation pages preview with the same
# conditions; the guarded UPDATEs below are what decide.
AWAITING = Q(status=Status.AWAITING_UPLOAD)
CANCELLABLE = Q(status__in=[Status.AWAITING_UPLOAD, Status.QUEUED])
# Staff recovery needs the source video: a job whose source was deleted (retention) can never be queued again.
_SOURCE_KEPT = Q(source_deleted_at__isnull=True)
REVERIFIABLE = (AWAITING | Q(status=Status.FAILED, error_code__in=list(UPLOAD_ERROR_CODES))) & _SOURCE_KEPT
RETRYABLE = Q(status=Status.FAILED) & ~Q(error_code__in=list(UPLOAD_ERROR_CODES)) & _SOURCE_KEPT


class IdempotencyKeyReused(Refusal):
    """An Idempotency-Key was sent again with a different request body."""

    error_code = "idempotency_key_reused"
    status = HTTPStatus.CONFLICT
    detail = (
        "This Idempotency-Key was already used with other parameters: send a new key to start a new upload."
    )

    def __init__(self, job: VideoAnalysisJob) -> None:
        super().__init__(f"Idempotency-Key already used for job {job.pk} with other parameters")
        self.job = job


@dataclass(frozen=True)
class VerifyResult:
    outcome: Outcome
    job: VideoAnalysisJob
    # True only for the one caller whose UPDATE moved the job.
    changed: bool
    detail: str = ""
    # A multipart upload that S3 does not hold whole yet (outcome INCOMPLETE): the parts to send again.
    missing_parts: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Verification:
    """What HeadObject showed of a job's object, classified."""

    outcome: Outcome
    info: storage.ObjectInfo | None = None
    code: ErrorCode | None = None  # for an object that is missing or not what was declared
    detail: str = ""  # for staff and the log
    message: str = ""  # for the client (see machinery.error_fields), when the job fails


# What the client is told when its upload is not there, by the code the job fails with.
_NOT_THERE = {
    ErrorCode.UPLOAD_MISSING: "No video was found for this job when its upload was said to be complete.",
    ErrorCode.UPLOAD_EXPIRED: "No video arrived before the upload deadline.",
}


def initiate_upload(
    *,
    owner: Any,
    filename: str,
    content_type: str,
    size_bytes: int,
    sha256: str = "",
    idempotency_key: str | None = None,
    part_plan: parts.Plan = parts.BY_THRESHOLD,
) -> tuple[VideoAnalysisJob, bool]:
    """Create a job awaiting its upload. Returns ``(job, created)``.

    ``part_plan`` says how the video goes up: by VIDEO_JOBS_MULTIPART_THRESHOLD (the default), in one
    request (``parts.SINGLE``), or in the parts of a given ``PartPlan`` (a client with its own part
    size, such as Uppy, whatever the threshold says).

    A retried call with the same ``idempotency_key`` returns the first job (``created`` False); the same
    key with other parameters raises IdempotencyKeyReused. A new job beyond the owner's quotas raises
    quotas.QuotaExceeded.
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

    job_id = uuid.uuid4()
    # The deadline the reconciler compares with, and the age the stuck-upload filter reads, by the database's
    # clock; the INSERT returns them (sql.insert_job).
    times = {
        "created_at": DatabaseNow(),
        "updated_at": DatabaseNow(),
        "run_after": DatabaseNow(),
        "upload_deadline": DatabaseNow(timedelta(seconds=settings.VIDEO_JOBS_UPLOAD_DEADLINE)),
    }
    job = VideoAnalysisJob(
        id=job_id,
        owner=owner,
        status=Status.AWAITING_UPLOAD,
        stage=Stage.AWAITING_UPLOAD,
        # The bucket of today's settings, kept with the job: every later S3 call about it uses this one.
        s3_bucket=storage.bucket_name(),
        s3_key=storage.video_key(job_id),
        idempotency_key=idempotency_key or None,
        max_attempts=settings.VIDEO_JOBS_MAX_ATTEMPTS,
        **parts.plan_fields(size_bytes, part_plan),
        **times,
        **declared,
    )
    try:
        with transaction.atomic():
            # Counted and inserted in one transaction that holds the user's lock (quotas.enforce): two
            # concurrent initiates cannot both take the last free place. A replay above counts nothing.
            quotas.enforce(owner)
            sql.insert_job(job)
    except IntegrityError:
        # Two retries of one initiate raced; the other one inserted first.
        if idempotency_key:
            found = replay()
            if found:
                return found
        raise
    logger.info("job %s initiated by user %s (%s bytes)", job.pk, owner.pk, size_bytes)
    return job, True


# --- verification: check eligibility, ask S3, classify -----------------------------------------------------


def _ineligible(job: VideoAnalysisJob, eligible: Q) -> VerifyResult | None:
    """Checked before the S3 call, so an ineligible job never costs one; the UPDATE checks again."""
    reload(job)
    if VideoAnalysisJob.objects.filter(eligible, pk=job.pk).exists():
        return None
    detail = f"job is {job.status}"
    if job.source_deleted_at is not None:
        detail = f"its source video was deleted on {job.source_deleted_at:%Y-%m-%d} (retention)"
    return VerifyResult(Outcome.NOT_ELIGIBLE, job, changed=False, detail=detail)


def _verify(job: VideoAnalysisJob) -> _Verification:
    """HeadObject the job's own key and classify what S3 answered. Counts every outcome but QUEUED,
    which its caller counts once the job is claimable (a metric write before that would delay pickup)."""
    max_bytes = int(settings.VIDEO_JOBS_MAX_UPLOAD_BYTES)
    try:
        info = storage.head(bucket=job.s3_bucket, key=job.s3_key)
    except storage.ObjectMissing as exc:
        verification = _Verification(Outcome.MISSING, code=ErrorCode.UPLOAD_MISSING, detail=str(exc))
    except storage.StorageUnavailable as exc:
        # A configuration fault (a missing bucket, access denied) was logged as an ERROR by storage.
        logger.warning("job %s: verification could not reach S3: %s", job.pk, exc)
        verification = _Verification(Outcome.TRANSIENT, detail=str(exc))
    else:
        if info.size > max_bytes:
            detail = f"The uploaded file is {info.size} bytes; the maximum is {max_bytes} bytes."
            verification = _Verification(Outcome.TOO_LARGE, info, ErrorCode.UPLOAD_TOO_LARGE, detail, detail)
        elif info.size != job.size_bytes:
            detail = f"The uploaded file is {info.size} bytes; {job.size_bytes} were declared."
            verification = _Verification(
                Outcome.SIZE_MISMATCH, info, ErrorCode.UPLOAD_SIZE_MISMATCH, detail, detail
            )
        else:
            return _Verification(Outcome.QUEUED, info)
    _count(verification.outcome)
    return verification


def _count(outcome: Outcome) -> None:
    metrics.record_event(metrics.UPLOAD_VERIFICATIONS, {"outcome": outcome.value})


# --- the short moves after a verification ------------------------------------------------------------------


def _queue(
    job: VideoAnalysisJob, guard: Q, seen: _Verification, *, reset_attempts: bool, within_quota: bool = False
) -> VerifyResult:
    """Move a verified job to ``queued``. ``within_quota`` (upload-complete): only while its owner has room
    for one more active job, counted and moved in one transaction that holds the owner's lock
    (``quotas.enforce_active``), so concurrent completes cannot both take the last place; otherwise
    QuotaExceeded, and the job stays as it was."""
    assert seen.info is not None
    # Stamped by the UPDATE, after S3 answered: queued_at is when the job became claimable (pickup latency
    # is measured from it).
    fields = queued_fields()
    fields.update(
        verified_at=DatabaseNow(),
        object_size=seen.info.size,
        object_etag=seen.info.etag,
        error_code="",
        error_message="",
        error_detail="",
        finished_at=None,
    )
    if reset_attempts:
        fields["attempts"] = 0
    with transaction.atomic() if within_quota else contextlib.nullcontext():
        if within_quota:
            quotas.enforce_active(job.owner_id)
        moved = move_or_show_winner(job, guard, **fields)
    _count(Outcome.QUEUED)
    if moved:
        logger.info("job %s verified (%s bytes, etag %s) and queued", job.pk, seen.info.size, seen.info.etag)
    return VerifyResult(Outcome.QUEUED, job, changed=moved)


def _settle_expired_upload(job: VideoAnalysisJob) -> VerifyResult:
    """The reconciler's verdict on an upload past its deadline: a multipart upload whose parts all arrived
    is assembled first (the client died before upload-complete), as upload-complete would; then queue the
    job when the object is what was declared, fail it (``upload_expired``, its parts aborted) when it is
    not, and leave it when S3 could not answer."""
    refused = _ineligible(job, AWAITING)
    if refused:
        return refused
    unassembled = _assemble(job)
    if unassembled and unassembled.outcome == Outcome.TRANSIENT:
        return unassembled
    return _settle(job, missing_code=ErrorCode.UPLOAD_EXPIRED)


def _settle(job: VideoAnalysisJob, *, missing_code: ErrorCode, within_quota: bool = False) -> VerifyResult:
    """Verify an awaited upload found eligible: queue (``within_quota``: see ``_queue``), fail with
    ``missing_code``, or leave it (transient)."""
    seen = _verify(job)
    if seen.outcome == Outcome.QUEUED:
        return _queue(job, AWAITING, seen, reset_attempts=False, within_quota=within_quota)
    if seen.outcome == Outcome.TRANSIENT:
        return VerifyResult(Outcome.TRANSIENT, job, changed=False, detail=seen.detail)
    code = missing_code if seen.outcome == Outcome.MISSING else seen.code
    assert code is not None
    message = _NOT_THERE[code] if seen.outcome == Outcome.MISSING else seen.message
    fields = failed_fields(code, message, detail=seen.detail)
    moved = move_or_show_winner(job, AWAITING, **fields)
    if moved:
        logger.info("job %s failed verification: %s (%s)", job.pk, code, seen.detail)
        parts.abort_quietly(job)
    return VerifyResult(seen.outcome, job, changed=moved, detail=seen.detail)


def _assemble(job: VideoAnalysisJob) -> VerifyResult | None:
    """An awaited multipart upload is first assembled from its parts (``parts.assemble``), for
    upload-complete and staff re-verification alike: None when the object should now be there for the
    HeadObject gate (or the job has no upload in progress); otherwise the result that leaves the job
    awaiting its upload, INCOMPLETE (with the missing part numbers) or TRANSIENT."""
    if not job.upload_id or job.status != Status.AWAITING_UPLOAD:
        return None
    assembly = parts.assemble(job)
    if assembly.missing:
        _count(Outcome.INCOMPLETE)
        detail = f"{len(assembly.missing)} of {job.part_count} parts missing"
        return VerifyResult(
            Outcome.INCOMPLETE, job, changed=False, detail=detail, missing_parts=assembly.missing
        )
    if assembly.unavailable:
        _count(Outcome.TRANSIENT)
        return VerifyResult(Outcome.TRANSIENT, job, changed=False, detail=assembly.unavailable)
    return None


def _staff_requeue(job: VideoAnalysisJob, eligible: Q) -> VerifyResult:
    """Staff recovery: queue (attempts reset) only what HeadObject proves is there; anything else leaves
    the job as it was, with the reason in the result (the client may still be uploading)."""
    refused = _ineligible(job, eligible)
    if refused:
        return refused
    unassembled = _assemble(job)
    if unassembled:
        logger.info("job %s left as %s: %s", job.pk, job.status, unassembled.detail)
        return unassembled
    seen = _verify(job)
    if seen.outcome == Outcome.QUEUED:
        return _queue(job, eligible & Q(status=job.status), seen, reset_attempts=True)
    logger.info("job %s left as %s: %s", job.pk, job.status, seen.detail)
    return VerifyResult(seen.outcome, job, changed=False, detail=seen.detail)


# --- the transitions ---------------------------------------------------------------------------------------


def complete_upload(*, job: VideoAnalysisJob) -> VerifyResult:
    """The client says its upload finished: verify the object and queue the job, exactly once. A multipart
    upload is first assembled from its parts (``parts.assemble``); while any part is missing the job
    stays awaiting its upload (outcome INCOMPLETE, with the missing part numbers).

    Idempotent: a job already past ``awaiting_upload`` is returned unchanged without touching S3.

    A job that would take its owner past their active-jobs quota is not queued: QuotaExceeded, and the job
    stays awaiting its upload (a later call queues it once one of the owner's jobs has ended). Looked at
    before any S3 call, decided in the transaction that queues (``_queue``).
    """
    refused = _ineligible(job, AWAITING)
    if refused:
        return refused
    quotas.enforce_active(job.owner_id, lock=False)
    return _assemble(job) or _settle(job, missing_code=ErrorCode.UPLOAD_MISSING, within_quota=True)


def reverify_upload(*, job: VideoAnalysisJob) -> VerifyResult:
    """Staff force-queue of a stuck upload. Eligible: ``awaiting_upload``, or ``failed`` with an upload
    error."""
    return _staff_requeue(job, REVERIFIABLE)


def retry_failed_job(*, job: VideoAnalysisJob) -> VerifyResult:
    """Staff retry of a job that failed while processing: re-verify S3, then queue with attempts reset."""
    return _staff_requeue(job, RETRYABLE)


def cancel_job(*, job: VideoAnalysisJob, upload_only: bool = False) -> bool:
    """Cancel a job that no worker has started (with ``upload_only``, only while it awaits its upload: an
    abandoned upload must not cancel one that completed meanwhile). Returns False (job unchanged) from any
    other status."""
    moved = move_or_show_winner(
        job,
        AWAITING if upload_only else CANCELLABLE,
        status=Status.CANCELLED,
        stage=Stage.CANCELLED,
        finished_at=DatabaseNow(),
    )
    if moved:
        logger.info("job %s cancelled", job.pk)
        parts.abort_quietly(job)
    return moved


def reconcile_expired_uploads(*, limit: int = 100) -> dict[Outcome, int]:
    """Settle uploads past their deadline: HeadObject first (a multipart upload with every part is assembled
    before); present → queued, absent or incomplete → upload_expired.

    When S3 cannot answer (or answers with a configuration fault, such as a missing bucket) the job stays as
    it is, to be tried on the next sweep, and the sweep stops there: with S3 down, each further HeadObject
    would only hold the worker for another timeout.
    """
    counts: dict[Outcome, int] = {}
    for job in VideoAnalysisJob.objects.upload_deadline_passed().order_by("upload_deadline")[:limit]:
        try:
            result = _settle_expired_upload(job)
        except JobGone:
            continue  # its owner deleted it meanwhile: nothing left to settle
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
        if result.outcome == Outcome.TRANSIENT:
            break
    return counts
