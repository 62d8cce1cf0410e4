"""The routes ``@uppy/aws-s3`` 6 calls on its Companion endpoint, answered in Companion's shapes by our own
services: create is initiate, complete is upload-complete (the one HeadObject gate), abort is cancel.

The only credential is the token in the path (``tokens``): a stock Uppy can send neither ``Authorization``
nor ``X-CSRFToken``, and a page on another site cannot know the token, so it does CSRF's job too. Every
job is found by its owner and by what the path and query say (uploadId and key), trusting neither alone.
Errors answer ``{error_code, detail}`` like the rest of the API (Uppy shows only the status text; our page
reads the job).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException, AuthenticationFailed, NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from .. import services
from ..api.throttling import InitiateThrottle
from ..models import VideoAnalysisJob
from ..s3 import presign, storage
from ..s3.multipart import MAX_SINGLE_PUT
from ..services.parts import SINGLE, Plan
from . import openapi, tokens
from . import serializers as uppy

Status = VideoAnalysisJob.Status


class PathTokenAuthentication(BaseAuthentication):
    """The user the path's ``<token>`` was made for; nothing else authenticates these routes."""

    def authenticate(self, request: Request) -> tuple[Any, None]:
        token = str((request.parser_context or {}).get("kwargs", {}).get("token", ""))
        user = tokens.user_for(token)
        if user is None:
            raise AuthenticationFailed(
                "This upload endpoint is invalid or expired: reload the page or ask /api/uppy/endpoint/ for "
                "a new one.",
                code="uppy_token_invalid",
            )
        return user, None


class Refused(Exception):
    """An answer other than success, ready to send."""

    def __init__(self, code: str, detail: str, status_code: int, **extra: Any) -> None:
        super().__init__(detail)
        self.response = Response({"error_code": code, "detail": detail, **extra}, status=status_code)


def _unavailable(detail: str = "S3 did not answer; retry later.") -> Refused:
    refused = Refused("storage_unavailable", detail, status.HTTP_503_SERVICE_UNAVAILABLE)
    refused.response["Retry-After"] = str(settings.VIDEO_JOBS_RETRY_AFTER)
    return refused


class UppyView(APIView):
    authentication_classes = [PathTokenAuthentication]
    schema = openapi.UppySchema()
    permission_classes = [IsAuthenticated]
    creates_jobs = False
    single_upload = False

    def get_throttles(self) -> list[BaseThrottle]:
        throttles = super().get_throttles()
        if self.creates_jobs:
            throttles.append(InitiateThrottle())
        return throttles

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Refused):
            return exc.response
        response = super().handle_exception(exc)
        if isinstance(exc, APIException):
            # One shape for every refusal: {error_code, detail}, field errors under "errors".
            codes = exc.get_codes()
            code = codes if isinstance(codes, str) else exc.default_code
            body: dict[str, Any] = {"error_code": str(code)}
            if isinstance(exc, ValidationError):
                body.update(detail="Invalid request: see errors.", errors=exc.detail)
            else:
                body["detail"] = str(exc.detail)
            response.data = body
        return response

    def job_url(self, job: VideoAnalysisJob) -> str:
        return self.request.build_absolute_uri(reverse("video-job-detail", args=[job.pk]))

    def upload_closed(self, job: VideoAnalysisJob) -> Refused:
        return Refused(
            "upload_closed",
            f"This file's job no longer awaits its upload (it is {job.status}).",
            status.HTTP_409_CONFLICT,
            location=self.job_url(job),
        )

    def create(
        self, *, filename: Any, content_type: Any, metadata: dict[str, Any]
    ) -> tuple[VideoAnalysisJob, int]:
        """``initiate_upload`` with the declared file (in parts of Uppy's size, whatever the multipart
        threshold says, unless this is a single upload), refusals in the initiate endpoint's terms."""
        declared = uppy.declared_file(filename=filename, content_type=content_type, metadata=metadata)
        kind = "single" if self.single_upload else "multipart"
        plan: Plan = SINGLE if self.single_upload else uppy.uppy_part_plan(declared["size_bytes"])
        try:
            job, created = services.initiate_upload(
                owner=self.request.user,
                idempotency_key=uppy.idempotency_key(kind, metadata),
                part_plan=plan,
                **declared,
            )
        except services.IdempotencyKeyReused as exc:
            raise Refused(
                "idempotency_key_reused",
                "This file id was already used for another file.",
                status.HTTP_409_CONFLICT,
            ) from exc
        except services.QuotaExceeded as exc:
            refused = Refused(
                "quota_exceeded",
                exc.message,
                status.HTTP_429_TOO_MANY_REQUESTS,
                quota=exc.quota,
                limit=exc.limit,
            )
            refused.response["Retry-After"] = str(settings.VIDEO_JOBS_QUOTA_RETRY_AFTER)
            raise refused from exc
        if job.status != Status.AWAITING_UPLOAD:
            raise self.upload_closed(job)
        # 201 for a new job, 200 for a replay (Uppy takes any 2xx), as initiate answers.
        return job, status.HTTP_201_CREATED if created else status.HTTP_200_OK

    def owned_job(self, *, upload_id: str) -> VideoAnalysisJob:
        """The caller's job whose upload id and key the request names (``upload_id`` "" for a single
        upload); NotFound for anything else, another user's job included."""
        key = self.request.query_params.get("key", "")
        if not key:
            raise ValidationError({"key": ["This query parameter is required."]})
        # No key or upload id holds a NUL (the server makes the keys, S3 the ids), and PostgreSQL would refuse
        # one in the query with an error (a 500).
        if "\x00" in key or "\x00" in upload_id:
            raise NotFound("No upload of yours has this uploadId and key.")
        job = (
            VideoAnalysisJob.objects.owned_by(self.request.user)
            .filter(upload_id=upload_id, s3_key=key, part_count__isnull=not upload_id)
            .first()
        )
        if job is None:
            raise NotFound("No upload of yours has this uploadId and key.")
        return job

    def settle(self, job: VideoAnalysisJob) -> Response:
        """upload-complete's service and its answers, in Companion's shape."""
        result = services.complete_upload(job=job)
        if result.outcome == services.Outcome.TRANSIENT:
            raise _unavailable("The upload could not be verified because S3 did not answer; retry later.")
        if result.outcome == services.Outcome.INCOMPLETE:
            raise Refused(
                "upload_incomplete",
                "Some parts are missing: upload them, then complete again.",
                status.HTTP_409_CONFLICT,
                missing_parts=result.missing_parts,
            )
        job = result.job
        location = self.job_url(job)
        if job.status == Status.FAILED:
            raise Refused(job.error_code, job.error_message, status.HTTP_409_CONFLICT, location=location)
        if job.status == Status.CANCELLED:
            raise Refused(
                "job_cancelled", "The job was cancelled.", status.HTTP_409_CONFLICT, location=location
            )
        return Response({"location": location, "key": job.s3_key, "bucket": job.s3_bucket})


class Params(UppyView):
    """Route 1, ``GET /s3/params``: a small file in one form POST, straight to S3."""

    creates_jobs = single_upload = True
    # Django answers HEAD with get(): here that would create a job for a request that reads nothing back.
    http_method_names = ["get", "options"]

    @openapi.GET_UPLOAD_PARAMETERS
    def get(self, request: Request, token: str) -> Response:
        query = {name: str(request.query_params.get(name)) for name in request.query_params}
        metadata = uppy.query_metadata(query)
        size = metadata.get("size", "")
        if size.isdigit() and int(size) > MAX_SINGLE_PUT:
            raise ValidationError({"metadata.size": [f"Above {MAX_SINGLE_PUT} bytes, upload in parts."]})
        job, code = self.create(
            filename=query.get("filename"), content_type=query.get("type"), metadata=metadata
        )
        try:
            post = presign.presign_post(
                bucket=job.s3_bucket,
                key=job.s3_key,
                content_length=job.size_bytes,
                content_type=job.content_type,
            )
        except storage.StorageUnavailable:
            raise _unavailable("No upload URL could be made; retry later.") from None
        expires = int(settings.VIDEO_JOBS_UPLOAD_URL_EXPIRES)
        return Response(
            {"method": "POST", "url": post.url, "fields": post.fields, "expires": expires}, status=code
        )


class ParamsComplete(UppyView):
    """Our extension, ``POST /s3/params/complete?key=``: Uppy never tells the server that a form POST
    finished, so the page calls this on upload-success (else the reconciler settles the job at its
    deadline)."""

    @openapi.COMPLETE_SINGLE_UPLOAD
    def post(self, request: Request, token: str) -> Response:
        return self.settle(self.owned_job(upload_id=""))


class MultipartCreate(UppyView):
    """Route 2, ``POST /s3/multipart``: create the job and its S3 multipart upload, in Uppy's part size."""

    creates_jobs = True

    @openapi.CREATE_MULTIPART_UPLOAD
    def post(self, request: Request, token: str) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        metadata = body.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        job, code = self.create(
            filename=body.get("filename"), content_type=body.get("type"), metadata=metadata
        )
        try:
            instructions = services.upload_instructions(job)
        except storage.StorageUnavailable:
            raise _unavailable("S3 could not start the upload; retry later.") from None
        if instructions is None:  # cancelled meanwhile
            raise self.upload_closed(job)
        return Response({"uploadId": job.upload_id, "key": job.s3_key, "bucket": job.s3_bucket}, status=code)


class MultipartUpload(UppyView):
    """Route 4, ``GET /s3/multipart/{uploadId}?key=`` (the parts S3 holds), and route 6, ``DELETE`` (the
    user removed the file: cancel the job, which aborts the upload)."""

    @openapi.LIST_PARTS
    def get(self, request: Request, token: str, upload_id: str) -> Response:
        job = self.owned_job(upload_id=upload_id)
        try:
            held = services.held_parts(job)
        except services.PartsClosed as exc:
            raise Refused("parts_closed", str(exc), status.HTTP_409_CONFLICT) from exc
        except storage.StorageUnavailable:
            raise _unavailable() from None
        return Response([{"PartNumber": part.number, "ETag": part.etag, "Size": part.size} for part in held])

    @openapi.ABORT_MULTIPART_UPLOAD
    def delete(self, request: Request, token: str, upload_id: str) -> Response:
        job = self.owned_job(upload_id=upload_id)
        # Aborting an upload that was completed (the job is queued or further) cancels nothing.
        services.cancel_job(job=job, upload_only=True)
        if job.status != Status.CANCELLED:
            raise self.upload_closed(job)
        return Response({})


class MultipartPart(UppyView):
    """Route 3, ``GET /s3/multipart/{uploadId}/{partNumber}?key=``: one part's URL, signing its exact
    Content-Length (the browser sets it from the slice; Uppy sends no other header)."""

    @openapi.SIGN_PART
    def get(self, request: Request, token: str, upload_id: str, part_number: int) -> Response:
        job = self.owned_job(upload_id=upload_id)
        try:
            [part] = services.presign_parts(job, [part_number])
        except services.PartsClosed as exc:
            raise Refused("parts_closed", str(exc), status.HTTP_409_CONFLICT) from exc
        except services.PartOutOfRange as exc:
            raise ValidationError({"partNumber": [str(exc)]}) from exc
        except storage.StorageUnavailable:
            raise _unavailable("No upload URL could be made; retry later.") from None
        return Response({"url": part["url"], "expires": int(settings.VIDEO_JOBS_UPLOAD_URL_EXPIRES)})


class MultipartComplete(UppyView):
    """Route 5, ``POST /s3/multipart/{uploadId}/complete?key=``: upload-complete, the same service and
    gate. The parts are assembled from what S3 lists, each checked against the plan; the body's list is
    only checked for Companion's shape."""

    @openapi.COMPLETE_MULTIPART_UPLOAD
    def post(self, request: Request, token: str, upload_id: str) -> Response:
        job = self.owned_job(upload_id=upload_id)
        uppy.completed_parts(request.data)
        return self.settle(job)


class Endpoint(APIView):
    """``GET /api/uppy/endpoint/`` with the API's own authentication: a Companion endpoint for clients
    that are not our page (which renders one itself)."""

    @extend_schema(
        summary="A Companion endpoint for Uppy's AwsS3 plugin", responses=uppy.CompanionEndpointSerializer
    )
    def get(self, request: Request) -> Response:
        user: Any = request.user  # authenticated (IsAuthenticated)
        body = {
            "companion_endpoint": request.build_absolute_uri(tokens.endpoint_path(user)),
            "expires_at": timezone.now() + timedelta(seconds=settings.VIDEO_JOBS_UPPY_TOKEN_MAX_AGE),
        }
        return Response(uppy.CompanionEndpointSerializer(body).data)
