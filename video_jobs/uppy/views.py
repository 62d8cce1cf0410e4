"""The routes ``@uppy/aws-s3`` 6 calls on its Companion endpoint, answered in Companion's shapes by our own
services: create is initiate, complete is upload-complete (the one HeadObject gate), abort is cancel.

The only credential is the token in the path (``tokens``): a stock Uppy can send neither ``Authorization``
nor ``X-CSRFToken``, and a page on another site cannot know the token, so it does CSRF's job too. Every
job is found by its owner and by what the path and query say (uploadId and key), trusting neither alone.
Refusals are the API's (``api.errors``) in Companion's shapes: ``{error_code, detail}`` like the rest of the
API, field errors under ``errors`` in Uppy's names, a job conflict with the job's ``location`` (Uppy shows
only the status text; our page reads the job).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authentication import BaseAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import (
    APIException,
    AuthenticationFailed,
    MethodNotAllowed,
    NotFound,
    ValidationError,
)
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from .. import services
from ..api import errors
from ..api.throttling import InitiateThrottle
from ..models import VideoAnalysisJob
from ..refusals import Refusal
from ..s3 import presign
from ..s3.multipart import MAX_SINGLE_PUT
from . import openapi, tokens
from . import serializers as uppy

Status = VideoAnalysisJob.Status


class PathTokenAuthentication(BaseAuthentication):
    """The user the path's ``<token>`` was made for; nothing else authenticates these routes."""

    def authenticate(self, request: Request) -> tuple[Any, None]:
        token = str((request.parser_context or {}).get("kwargs", {}).get("token", ""))
        # The page's token answers only beside its session (the cookie our own origin's requests carry).
        user = tokens.user_for(token, session=getattr(request, "session", None))
        if user is None:
            raise AuthenticationFailed(
                "This upload endpoint is invalid or expired: reload the page or ask /api/uppy/endpoint/ for "
                "a new one.",
                code="uppy_token_invalid",
            )
        return user, None


# What a refusal says in Uppy's terms, where the API's words would not fit.
_IN_UPPY_TERMS = {services.IdempotencyKeyReused.error_code: "This file id was already used for another file."}


def _job_url(request: Request, job: VideoAnalysisJob) -> str:
    return request.build_absolute_uri(reverse("video-job-detail", args=[job.pk]))


def companion_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """The API's exception handler, in Companion's shapes: a job conflict answers the job's location rather
    than the job, field errors go under ``errors`` (in Uppy's names), every refusal as ``{error_code,
    detail}``."""
    if isinstance(exc, errors.JobConflict):
        return errors.respond(
            exc, {**errors.refusal_body(exc), "location": _job_url(context["request"], exc.job)}
        )
    if isinstance(exc, Refusal) and exc.field is not None:
        exc = errors.field_error(exc, uppy.UPPY_NAMES.get(exc.field, exc.field))
    response = errors.exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, Refusal):
        response.data["detail"] = _IN_UPPY_TERMS.get(exc.error_code, exc.detail)
    elif isinstance(exc, APIException):
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

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        return companion_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # A method the route does not have is refused as such (405) before the token is read: DRF would
        # authenticate first and answer a forged token's 403 to a TRACE.
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)

    @staticmethod
    def upload_closed(job: VideoAnalysisJob) -> errors.JobConflict:
        return errors.JobConflict(
            job,
            error_code="upload_closed",
            detail=f"This file's job no longer takes its upload (it is {job.status}): remove the file and "
            "add it again to start a new upload.",
        )

    def create(
        self, *, filename: Any, content_type: Any, metadata: dict[str, Any]
    ) -> tuple[VideoAnalysisJob, int]:
        """``initiate_upload`` with the declared file (in parts of Uppy's size, whatever the multipart
        threshold says, unless this is a single upload), refusals in the initiate endpoint's terms."""
        declared = uppy.declared_file(filename=filename, content_type=content_type, metadata=metadata)
        kind = "single" if self.single_upload else "multipart"
        plan: services.Plan = (
            services.SINGLE if self.single_upload else uppy.uppy_part_plan(declared["size_bytes"])
        )
        job, created = services.initiate_upload(
            owner=self.request.user,
            idempotency_key=uppy.idempotency_key(kind, metadata),
            part_plan=plan,
            **declared,
        )
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
        job = errors.settled(services.complete_upload(job=job))
        location = _job_url(self.request, job)
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
        # ASCII digits only ("²" is a digit to str.isdigit, not to int); a number too long for int() to read
        # (over 4300 digits) is too large anyway.
        size = metadata.get("size", "").lstrip("0")
        if re.fullmatch(r"[0-9]+", size) and (len(size) > 30 or int(size) > MAX_SINGLE_PUT):
            raise ValidationError({"metadata.size": [f"Above {MAX_SINGLE_PUT} bytes, upload in parts."]})
        job, code = self.create(
            filename=query.get("filename"), content_type=query.get("type"), metadata=metadata
        )
        post = presign.presign_post(
            bucket=job.s3_bucket,
            key=job.s3_key,
            content_length=job.size_bytes,
            content_type=job.content_type,
        )
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
        if services.upload_instructions(job) is None:  # cancelled meanwhile
            raise self.upload_closed(job)
        return Response({"uploadId": job.upload_id, "key": job.s3_key, "bucket": job.s3_bucket}, status=code)


class MultipartUpload(UppyView):
    """Route 4, ``GET /s3/multipart/{uploadId}?key=`` (the parts S3 holds), and route 6, ``DELETE`` (the
    user removed the file: cancel the job, which aborts the upload)."""

    @openapi.LIST_PARTS
    def get(self, request: Request, token: str, upload_id: str) -> Response:
        held = services.held_parts(self.owned_job(upload_id=upload_id))
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
        [part] = services.presign_parts(self.owned_job(upload_id=upload_id), [part_number])
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
        # Bound to what authenticated this call: the API token (revoking it revokes the endpoint), else the
        # session (logout does).
        api_key = request.auth.key if isinstance(request.auth, Token) else ""
        session_key = "" if api_key else str(request.session.session_key or "")
        path = tokens.endpoint_path(user, session_key=session_key, api_key=api_key)
        body = {
            "companion_endpoint": request.build_absolute_uri(path),
            "expires_at": timezone.now() + timedelta(seconds=settings.VIDEO_JOBS_UPPY_TOKEN_MAX_AGE),
        }
        return Response(uppy.CompanionEndpointSerializer(body).data)
