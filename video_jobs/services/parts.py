"""Multipart uploads of large videos: the upload instructions initiate answers, part URLs, the parts S3
holds, assembling the parts before verification, and aborting an upload nobody will finish.

The job keeps S3's upload id from initiate on. Parts go straight from the client to S3; the server alone
completes the upload (after checking every part is there with its planned size) and then verifies the
object with the same HeadObject gate as a single PUT (``uploads``). Whatever ends an awaited upload
(cancel, delete, the reconciler) aborts it, and a sweep aborts uploads no awaiting job owns: S3 bills the
parts it holds until then.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from http import HTTPStatus
from typing import Any, Final, Literal

from ..clock import database_now
from ..models import VideoAnalysisJob
from ..refusals import Refusal
from ..s3 import multipart, presign, storage
from .machinery import reload

logger = logging.getLogger(__name__)

Status = VideoAnalysisJob.Status

# The most part URLs one call may ask for.
MAX_PARTS_A_CALL = 100
# Multipart uploads no awaiting job owns are aborted once this old (a client may be between initiate and
# the UPDATE that records the upload id; S3 gives no other way to tell such an upload from an orphan).
ORPHAN_AGE = timedelta(days=1)


class PartsClosed(Refusal):
    """The job takes no parts: it is not a multipart upload, no longer awaits its upload, or its parts were
    assembled already (upload-complete settles it)."""

    error_code = "parts_closed"
    status = HTTPStatus.CONFLICT
    detail = (
        "This job takes no parts: it is not a multipart upload, no longer awaits its upload, or its parts "
        "were assembled. Call upload-complete to finish it, or get the job to see where it is."
    )


class PartOutOfRange(Refusal, ValueError):
    """A part number outside 1..part_count: an error of the ``part_numbers`` asked for."""

    error_code = "invalid"
    field = "part_numbers"

    def __init__(self, message: str) -> None:
        super().__init__(message, detail=message)


# How initiate decides between one request and parts (``initiate_upload(part_plan=...)``).
BY_THRESHOLD: Final = "by_threshold"
SINGLE: Final = "single"
Plan = multipart.PartPlan | Literal["by_threshold", "single"]


def plan_fields(size: int, plan: Plan = BY_THRESHOLD) -> dict[str, Any]:
    """The part plan initiate stores with a new job: nothing for one request (below the multipart
    threshold, or ``SINGLE``), else ``plan`` or the threshold's own."""
    if plan == SINGLE or (plan == BY_THRESHOLD and not multipart.wants_multipart(size)):
        return {}
    if not isinstance(plan, multipart.PartPlan):
        plan = multipart.PartPlan.for_size(size)
    return {"part_size": plan.part_size, "part_count": plan.part_count}


def upload_instructions(job: VideoAnalysisJob) -> dict[str, Any] | None:
    """What the client needs to upload an awaited job's video: one presigned PUT, or its multipart plan
    (the part URLs come from ``presign_parts``). None once the job no longer awaits it. Raises
    StorageUnavailable when S3 cannot create the upload or no binding URL can be made (the job waits: a
    replay of initiate tries again)."""
    if job.status != Status.AWAITING_UPLOAD:
        return None
    if job.part_count is None:
        # Signed for the job's own bucket and exactly what the client declared: S3 refuses anything else.
        presigned = presign.presign_upload(
            bucket=job.s3_bucket,
            key=job.s3_key,
            content_length=job.size_bytes,
            sha256=job.sha256,
            content_type=job.content_type,
        )
        return {
            "method": presigned.method,
            "url": presigned.url,
            "headers": presigned.headers,
            "expires_at": presigned.expires_at,
        }
    _ensure_upload(job)
    if job.status != Status.AWAITING_UPLOAD:  # cancelled meanwhile
        return None
    return {
        "method": "multipart",
        "part_size": job.part_size,
        "part_count": job.part_count,
        # Part URLs may be asked for again until the upload deadline, each short-lived.
        "expires_at": job.upload_deadline,
    }


def _ensure_upload(job: VideoAnalysisJob) -> None:
    """Create the job's S3 multipart upload unless it has one. Two racing initiates (an Idempotency-Key
    replay) both create one; the guarded UPDATE keeps the first and the other is aborted."""
    if job.upload_id:
        return
    upload_id = multipart.create(bucket=job.s3_bucket, key=job.s3_key, content_type=job.content_type)
    recorded = VideoAnalysisJob.objects.filter(pk=job.pk, status=Status.AWAITING_UPLOAD, upload_id="").update(
        upload_id=upload_id
    )
    if recorded:
        job.upload_id = upload_id
        logger.info("job %s: multipart upload created (%s parts)", job.pk, job.part_count)
        return
    multipart.abort(bucket=job.s3_bucket, key=job.s3_key, upload_id=upload_id)
    reload(job)


def _open_upload(job: VideoAnalysisJob) -> str:
    """The upload id of a job that takes parts now, or PartsClosed."""
    reload(job)
    if job.part_count is None or job.status != Status.AWAITING_UPLOAD or not job.upload_id:
        raise PartsClosed(f"job {job.pk} takes no parts (it is {job.status})")
    return job.upload_id


def _length(job: VideoAnalysisJob, number: int) -> int:
    assert job.part_size is not None
    return multipart.part_length(size=job.size_bytes, part_size=job.part_size, part_number=number)


def presign_parts(job: VideoAnalysisJob, part_numbers: list[int]) -> list[dict[str, Any]]:
    """A short-lived PUT URL for each part, signing its exact size. Raises PartsClosed, PartOutOfRange, or
    StorageUnavailable when no binding URL can be made."""
    upload_id = _open_upload(job)
    assert job.part_count is not None
    outside = sorted({number for number in part_numbers if not 1 <= number <= job.part_count})
    if outside:
        raise PartOutOfRange(f"part numbers must be 1 to {job.part_count}; not {outside}")
    parts = []
    for number in part_numbers:
        presigned = multipart.presign_part(
            bucket=job.s3_bucket,
            key=job.s3_key,
            upload_id=upload_id,
            part_number=number,
            content_length=_length(job, number),
        )
        parts.append(
            {
                "part_number": number,
                "url": presigned.url,
                "headers": presigned.headers,
                "expires_at": presigned.expires_at,
            }
        )
    return parts


def held_parts(job: VideoAnalysisJob) -> list[multipart.Part]:
    """The parts S3 holds for the job's upload. Raises PartsClosed (also when S3 no longer has the upload:
    it was assembled, and upload-complete settles the job) or StorageUnavailable."""
    upload_id = _open_upload(job)
    try:
        return multipart.list_parts(bucket=job.s3_bucket, key=job.s3_key, upload_id=upload_id)
    except storage.UploadMissing as exc:
        raise PartsClosed(str(exc)) from exc


@dataclass(frozen=True)
class Assembly:
    """What ``assemble`` did: ``missing`` parts (the client resumes), S3 could not answer (``unavailable``),
    or neither: the object should now be there, for the HeadObject gate to verify."""

    missing: list[int] = field(default_factory=list)
    unavailable: str = ""


def assemble(job: VideoAnalysisJob) -> Assembly:
    """Complete the job's multipart upload once S3 holds every part with its planned size.

    Idempotent: an upload S3 no longer has was completed before (perhaps by a call that crashed before it
    could write to the database) or is an object already under the key (If-None-Match refuses to replace
    it): either way the HeadObject gate that follows decides.
    """
    assert job.part_count is not None
    try:
        parts = multipart.list_parts(bucket=job.s3_bucket, key=job.s3_key, upload_id=job.upload_id)
        held = {part.number: part for part in parts}
        missing = [
            number
            for number in range(1, job.part_count + 1)
            if number not in held or held[number].size != _length(job, number)
        ]
        if missing:
            return Assembly(missing=missing)
        wanted = [held[number] for number in range(1, job.part_count + 1)]
        started = time.monotonic()
        multipart.complete(
            bucket=job.s3_bucket, key=job.s3_key, upload_id=job.upload_id, parts=wanted, size=job.size_bytes
        )
        # S3 answers once the object is whole: minutes for tens of gigabytes, worth seeing in the log.
        logger.info("job %s: %s parts assembled in %.1fs", job.pk, job.part_count, time.monotonic() - started)
    except (storage.UploadMissing, storage.ObjectChanged) as exc:
        logger.info("job %s: parts assembled before (%s); verifying", job.pk, exc)
    except storage.StorageUnavailable as exc:
        logger.warning("job %s: S3 could not assemble the parts: %s", job.pk, exc)
        return Assembly(unavailable=str(exc))
    return Assembly()


def abort_upload(job: VideoAnalysisJob) -> None:
    """Abort the job's multipart upload, if it has one (gone already is fine). Raises StorageError."""
    if job.upload_id:
        multipart.abort(bucket=job.s3_bucket, key=job.s3_key, upload_id=job.upload_id)


def abort_quietly(job: VideoAnalysisJob) -> None:
    """``abort_upload`` for a job that just ended: when S3 cannot answer, the orphan sweep aborts it later."""
    try:
        abort_upload(job)
    except storage.StorageError as exc:
        logger.warning("job %s: multipart upload not aborted (the sweep will): %s", job.pk, exc)


def sweep_orphan_uploads(*, limit: int = 1000) -> int:
    """Abort multipart uploads under the videos prefix of the configured bucket that no awaiting job owns
    and that are older than ORPHAN_AGE (by the database's clock). Returns how many were aborted."""
    bucket = storage.bucket_name()
    cutoff = database_now() - ORPHAN_AGE
    aborted = 0
    for upload in multipart.list_uploads(bucket=bucket, prefix=storage.VIDEOS_PREFIX):
        if aborted >= limit:
            break
        if upload.initiated >= cutoff:
            continue
        owned = VideoAnalysisJob.objects.filter(
            s3_bucket=bucket, upload_id=upload.upload_id, status=Status.AWAITING_UPLOAD
        ).exists()
        if not owned:
            multipart.abort(bucket=bucket, key=upload.key, upload_id=upload.upload_id)
            aborted += 1
            logger.info(
                "orphaned multipart upload of %s aborted (initiated %s)", upload.key, upload.initiated
            )
    return aborted
