"""The video jobs REST API. Views validate and translate; every state change is a call into services. A
refusal is raised (the services' and S3's own, or ``errors.JobConflict``), never answered here: ``errors``
speaks it."""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.db.models import F, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.viewsets import GenericViewSet

from .. import services
from ..models import VideoAnalysisJob
from ..s3 import artifacts, presign, storage
from . import errors, reads
from .openapi import error_responses
from .serializers import (
    OVERVIEW_PATHS,
    HeldPartsSerializer,
    InitiatedJobSerializer,
    InitiateSerializer,
    JobSerializer,
    JobSummarySerializer,
    PartNumbersSerializer,
    PartUrlsSerializer,
    QuotaExceededSerializer,
    UploadIncompleteSerializer,
)
from .throttling import InitiateThrottle

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
PARTS_CLOSED = "parts_closed: the job takes no parts (a single PUT, assembled, or no longer awaiting)."


def _initiated_body(job: VideoAnalysisJob, request: Request) -> dict[str, Any]:
    upload = services.upload_instructions(job)
    return dict(InitiatedJobSerializer(job, context={"upload": upload, "request": request}).data)


@extend_schema_view(
    list=extend_schema(
        summary="List your jobs",
        description="Jobs without their `result`: get a job by its id for that.",
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                enum=VideoAnalysisJob.Status.values,
                description="Only jobs in this status.",
            )
        ],
        responses={
            200: JobSummarySerializer(many=True),
            **error_responses({400: "An unknown status, or a page_size that is not a positive integer."}),
        },
    ),
    retrieve=extend_schema(summary="Get one of your jobs"),
    destroy=extend_schema(
        summary="Delete a job with its video and artifacts",
        responses={
            204: OpenApiResponse(description="Deleted, with everything stored for it."),
            409: OpenApiResponse(JobSerializer, description="A worker is processing the job."),
            **error_responses({503: "S3 could not delete its objects; retry after Retry-After."}),
        },
    ),
)
class VideoJobViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, GenericViewSet[VideoAnalysisJob]):
    serializer_class = JobSerializer
    # Any path segment reaches get_object, so a malformed id answers a JSON 404 like an unknown one.
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[VideoAnalysisJob]:
        # Owner scoping: another user's job is indistinguishable from a job that does not exist.
        queryset = VideoAnalysisJob.objects.owned_by(self.request.user)
        if self.action == "list":
            # Not sent in lists (JobSummarySerializer): not read either, but for the few keys of its overview.
            overview = {name: F(path) for name, path in OVERVIEW_PATHS.items()}
            queryset = queryset.defer("result").annotate(**overview)
            wanted = self.request.query_params.get("status")
            if wanted is not None:
                if wanted not in VideoAnalysisJob.Status.values:
                    raise ValidationError(
                        {"status": [f"Must be one of: {', '.join(VideoAnalysisJob.Status.values)}."]}
                    )
                queryset = queryset.filter(status=wanted)
        return queryset

    def get_throttles(self) -> list[BaseThrottle]:
        throttles = super().get_throttles()
        if self.action == "initiate":
            throttles.append(InitiateThrottle())
        return throttles

    def get_serializer_class(self) -> type[JobSerializer]:
        return JobSummarySerializer if self.action == "list" else JobSerializer

    def get_object(self) -> VideoAnalysisJob:
        # Unknown, malformed and other users' ids all answer the same 404, so ids cannot be probed. One
        # named statement (reads.owned_job), scoped to the owner as get_queryset is.
        try:
            job_id = uuid.UUID(str(self.kwargs[self.lookup_field]))
        except ValueError:
            raise NotFound() from None
        job = reads.owned_job(self.request.user.pk, job_id)
        if job is None:
            raise NotFound()
        self.check_object_permissions(self.request, job)
        return job

    @extend_schema(
        summary="Create a job and get a presigned upload URL",
        request=InitiateSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Retrying with the same key returns the same job instead of a new one.",
            )
        ],
        responses={
            201: InitiatedJobSerializer,
            200: OpenApiResponse(InitiatedJobSerializer, description="Replay of an Idempotency-Key."),
            **error_responses(
                {
                    400: "Field errors (the Idempotency-Key header's too).",
                    409: "Idempotency-Key reused with other data (idempotency_key_reused).",
                    429: (
                        QuotaExceededSerializer,
                        "Quota exceeded (quota_exceeded), or too many requests (throttled); retry after "
                        "Retry-After.",
                    ),
                    503: "No upload URL could be made (storage_unavailable); retry after Retry-After.",
                }
            ),
        },
    )
    @action(detail=False, methods=["post"])
    def initiate(self, request: Request) -> Response:
        idempotency_key = request.headers.get(IDEMPOTENCY_HEADER) or None
        if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise ValidationError(
                {IDEMPOTENCY_HEADER: [f"Must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters."]}
            )
        serializer = InitiateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job, created = services.initiate_upload(
            owner=request.user,
            idempotency_key=idempotency_key,
            **serializer.validated_data,
        )
        # StorageUnavailable when no URL that binds the upload could be made (logged as a configuration
        # fault). The job waits: a retry with the same Idempotency-Key gets it with a fresh URL.
        body = _initiated_body(job, request)
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="Tell the service the upload finished; it verifies the object and queues the job",
        request=None,
        responses={
            200: OpenApiResponse(JobSerializer, description="Queued, or already past verification."),
            409: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="UploadCompleteConflict",
                    serializers=[JobSerializer, UploadIncompleteSerializer],
                    resource_type_field_name=None,
                ),
                description="The job failed (see error_code) or was cancelled; or upload_incomplete: "
                "parts of a multipart upload are missing and the job still awaits them.",
            ),
            **error_responses({503: "S3 could not answer (storage_unavailable); retry after Retry-After."}),
        },
    )
    @action(detail=True, methods=["post"], url_path="upload-complete")
    def upload_complete(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        started = time.perf_counter()
        with storage.timed() as s3_seconds:
            result = services.complete_upload(job=job)
        # Lets clients and benchmarks see how much of the call was the HeadObject round trip; DRF adds the
        # view's headers to every answer, a refusal's too.
        self.headers["Server-Timing"] = (
            f's3;dur={sum(s3_seconds) * 1000:.2f};desc="HeadObject", '
            f"verify;dur={(time.perf_counter() - started) * 1000:.2f}"
        )
        job = errors.settled(result)
        return Response(JobSerializer(job, context=self.get_serializer_context()).data)

    @extend_schema(
        methods=["POST"],
        summary="Presigned URLs for parts of a multipart upload",
        request=PartNumbersSerializer,
        responses={
            200: PartUrlsSerializer,
            **error_responses(
                {
                    400: "Part numbers outside 1..part_count, or more than 100 (error_code invalid).",
                    409: PARTS_CLOSED,
                    503: "No URL could be made (storage_unavailable); retry after Retry-After.",
                }
            ),
        },
    )
    @extend_schema(
        methods=["GET"],
        summary="The parts S3 holds for a multipart upload",
        responses={
            200: HeldPartsSerializer,
            **error_responses(
                {
                    409: PARTS_CLOSED,
                    503: "S3 could not answer (storage_unavailable); retry after Retry-After.",
                }
            ),
        },
    )
    @action(detail=True, methods=["get", "post"])
    def parts(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        if request.method == "GET":
            held = services.held_parts(job)
            body = {"parts": [{"part_number": p.number, "size": p.size, "etag": p.etag} for p in held]}
            return Response(HeldPartsSerializer(body).data)
        asked = PartNumbersSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        parts = services.presign_parts(job, asked.validated_data["part_numbers"])
        return Response(PartUrlsSerializer({"parts": parts}).data)

    @extend_schema(
        summary="Download an artifact of a finished job (poster.jpg, source, ...)",
        parameters=[
            OpenApiParameter(
                "name",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="An artifact's name, as the job's `artifacts` list it (poster.jpg, source, ...).",
            ),
            OpenApiParameter(
                "Location",
                OpenApiTypes.URI,
                OpenApiParameter.HEADER,
                required=True,
                response=[302],
                description="The presigned S3 GET of the artifact.",
            ),
        ],
        responses={
            302: OpenApiResponse(description="Location: a presigned S3 GET, valid for a few minutes."),
            **error_responses(
                {
                    404: "No such job of yours, or no such artifact (error_code not_found).",
                    503: "No URL could be made (storage_unavailable); retry after Retry-After.",
                }
            ),
        },
    )
    # Routed in urls.py (no trailing slash: the name is a file name, as in <img src=".../poster.jpg">).
    def artifact(self, request: Request, pk: str | None = None, name: str = "") -> Response:
        job = self.get_object()
        found = artifacts.find(job, name)
        if found is None:
            raise NotFound("This job has no artifact of that name.")
        url = presign.presign_download(bucket=job.s3_bucket, key=found.key, content_type=found.content_type)
        # A cached redirect must not outlive its URL (presign.DOWNLOAD_URL_SECONDS).
        return Response(
            status=status.HTTP_302_FOUND, headers={"Location": url, "Cache-Control": "private, max-age=60"}
        )

    @extend_schema(
        summary="Cancel a job that has not started processing",
        request=None,
        responses={
            200: JobSerializer,
            409: OpenApiResponse(JobSerializer, description="Too late: the job is past queued."),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        services.cancel_job(job=job)
        if job.status != VideoAnalysisJob.Status.CANCELLED:
            raise errors.JobConflict(job)
        return Response(JobSerializer(job, context=self.get_serializer_context()).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        outcome = services.delete_job(job=job)
        if outcome == services.Deletion.PROCESSING:
            raise errors.JobConflict(job)
        if outcome == services.Deletion.STORAGE_UNAVAILABLE:
            raise storage.StorageUnavailable(
                f"job {job.pk}: S3 could not delete its objects",
                detail="The job's files could not be deleted because S3 did not answer; retry later.",
            )
        return Response(status=status.HTTP_204_NO_CONTENT)
