"""One place says no: every refusal the API answers, in the shared error body with a stable ``error_code``.

Views raise; ``exception_handler`` (DRF's EXCEPTION_HANDLER) speaks:

- a domain exception (``refusals.Refusal``: ``QuotaExceeded``, ``IdempotencyKeyReused``, ``PartsClosed``,
  ``StorageUnavailable``...) answers its status with ``{error_code, detail, ...its extra fields}`` and
  ``Retry-After`` where it has one; one that refuses an argument (``field``) answers as that field's error;
- a ``JobConflict`` answers 409 with the job as it is (its status and error_code say why);
- DRF's own errors (field errors, authentication, not found, throttling...) answer ``{"detail": ...}`` or a
  map of field errors, with their ``error_code`` added. Field errors stay where they were
  (``{"error_code": "invalid", "size_bytes": ["..."]}``).

The Uppy routes speak the same refusals in Companion's shapes (``uppy.views``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .. import services
from ..models import VideoAnalysisJob
from ..refusals import Refusal
from ..s3 import storage
from .serializers import JobSerializer

# DRF's exception codes, kept as they are spelled there: clients branch on them, so they never change.
INVALID = exceptions.ValidationError.default_code  # "invalid"
NOT_FOUND = exceptions.NotFound.default_code  # "not_found"

Status = VideoAnalysisJob.Status


# A job's conflict in words for what the caller can do now (a failed job's own message says it already).
_JOB_IS: dict[str, str] = {
    Status.CANCELLED: "The job was cancelled: start a new upload.",
    Status.PROCESSING: "The job is being processed: wait until it is done or failed.",
}


class JobConflict(Refusal):
    """The call does not apply to the job as it is now: it failed, was cancelled, is processing, is past
    queued... The refusal carries the job, which the answer shows: the API answers the job itself, the Uppy
    routes its location. Its code is a failed job's own (upload_missing...), else ``job_<status>``."""

    status = HTTPStatus.CONFLICT

    def __init__(self, job: VideoAnalysisJob, *, error_code: str = "", detail: str = "") -> None:
        failed = job.status == Status.FAILED
        super().__init__(
            f"job {job.pk} is {job.status}",
            detail=detail
            or (job.error_message if failed else _JOB_IS.get(job.status, f"The job is {job.status}.")),
        )
        self.error_code = error_code or (job.error_code if failed else f"job_{job.status}")
        self.job = job


class UploadIncomplete(Refusal):
    """Parts of a multipart upload are missing (or have another size): the job still awaits them."""

    error_code = "upload_incomplete"
    status = HTTPStatus.CONFLICT
    detail = "Some parts are missing: upload them, then complete the upload again."

    def __init__(self, missing_parts: list[int]) -> None:
        super().__init__(f"parts missing: {missing_parts}")
        self.missing_parts = missing_parts

    def extra(self) -> dict[str, Any]:
        return {"missing_parts": self.missing_parts}


class RequestTooLarge(Refusal):
    """A body past Django's limits (DATA_UPLOAD_MAX_MEMORY_SIZE, ...): Django would answer its HTML 400."""

    error_code = "request_too_large"
    detail = (
        "The request body is too large. Video bytes go straight to S3 (the URL initiate gives), not here."
    )


# What Django raises while reading a body past its limits (SuspiciousOperations it answers with an HTML 400).
_TOO_LARGE = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)


def settled(result: services.VerifyResult) -> VideoAnalysisJob:
    """The job upload-complete's verification left (queued, or already past verification), or the refusal
    its outcome is: StorageUnavailable (S3 did not answer; the job waits), UploadIncomplete, or JobConflict
    (the job failed or was cancelled)."""
    if result.outcome == services.Outcome.TRANSIENT:
        raise storage.StorageUnavailable(
            result.detail,
            detail="The upload could not be verified because S3 did not answer; retry later.",
        )
    if result.outcome == services.Outcome.INCOMPLETE:
        raise UploadIncomplete(result.missing_parts)
    if result.job.status in (Status.FAILED, Status.CANCELLED):
        raise JobConflict(result.job)
    return result.job


def refusal_body(refusal: Refusal) -> dict[str, Any]:
    return {"error_code": refusal.error_code, "detail": refusal.detail, **refusal.extra()}


def respond(refusal: Refusal, body: Any) -> Response:
    """``body`` with the refusal's status and its ``Retry-After``, if it has one."""
    retry_after = refusal.retry_after
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return Response(body, status=int(refusal.status), headers=headers)


def field_error(refusal: Refusal, name: str) -> exceptions.ValidationError:
    """A refusal of one argument as DRF's error of the field ``name``."""
    return exceptions.ValidationError({name: [refusal.detail]}, code=refusal.error_code)


def error_code_of(exc: Exception) -> str:
    if isinstance(exc, Http404):
        return NOT_FOUND
    if isinstance(exc, PermissionDenied):
        return str(exceptions.PermissionDenied.default_code)
    if isinstance(exc, exceptions.APIException):
        return str(exc.default_code)
    return "error"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, _TOO_LARGE):
        exc = RequestTooLarge(str(exc))
    if isinstance(exc, JobConflict):
        return respond(exc, JobSerializer(exc.job, context={"request": context.get("request")}).data)
    if isinstance(exc, Refusal):
        if exc.field is None:
            return respond(exc, refusal_body(exc))
        exc = field_error(exc, exc.field)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict):
        response.data = {"error_code": error_code_of(exc), **data}
    else:
        # ValidationError("...") or a list: the errors of the request as a whole.
        response.data = {"error_code": error_code_of(exc), "non_field_errors": data}
    return response
