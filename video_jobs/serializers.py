"""Request validation and response bodies of the video jobs API."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import artifacts
from .models import VideoAnalysisJob

JOB_FIELDS = (
    "id",
    "status",
    "stage",
    "progress",
    "filename",
    "content_type",
    "size_bytes",
    "sha256",
    "attempts",
    "error_code",
    "error_message",
    "result",
    "created_at",
    "updated_at",
    "upload_deadline",
    "queued_at",
    "started_at",
    "finished_at",
    "source_deleted_at",
)


class ArtifactSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(help_text="poster.jpg, source (the video, until retention deletes it), ...")
    content_type = serializers.CharField()
    url = serializers.CharField(help_text="GET it: 302 to a presigned S3 URL valid for a few minutes.")


class JobSerializer(serializers.ModelSerializer[VideoAnalysisJob]):
    artifacts = serializers.SerializerMethodField(help_text="What the finished job offers to download.")

    class Meta:
        model = VideoAnalysisJob
        fields: tuple[str, ...] = (*JOB_FIELDS, "artifacts")
        read_only_fields: tuple[str, ...] = fields

    @extend_schema_field(ArtifactSerializer(many=True))
    def get_artifacts(self, job: VideoAnalysisJob) -> list[dict[str, str]]:
        # Absolute when a request is at hand (the API); a path in webhook payloads, which have none.
        request = self.context.get("request")
        listed = []
        for artifact in artifacts.of_job(job):
            url = artifacts.path(job, artifact.name)
            if request is not None:
                url = request.build_absolute_uri(url)
            listed.append({"name": artifact.name, "content_type": artifact.content_type, "url": url})
        return listed


class JobSummarySerializer(JobSerializer):
    """A job in a list: everything but its ``result``, which only the job's own GET sends (a result is up to
    64 KiB; a page of them would be megabytes)."""

    class Meta(JobSerializer.Meta):
        fields: tuple[str, ...] = tuple(name for name in JOB_FIELDS if name != "result")
        read_only_fields: tuple[str, ...] = fields


class UploadInstructionsSerializer(serializers.Serializer[Any]):
    method = serializers.CharField(
        help_text="PUT: one presigned PUT to url; multipart: PUT parts to the URLs of POST .../parts/."
    )
    url = serializers.URLField(
        required=False, help_text="PUT: presigned URL; send the file's bytes as the request body."
    )
    headers = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="PUT: headers the request must carry (the signature covers them).",
    )
    part_size = serializers.IntegerField(
        required=False, help_text="multipart: bytes of every part but the last."
    )
    part_count = serializers.IntegerField(required=False, help_text="multipart: how many parts.")
    expires_at = serializers.DateTimeField(
        help_text="PUT: when the URL expires; multipart: until when part URLs may be asked for."
    )


class PartNumbersSerializer(serializers.Serializer[Any]):
    part_numbers = serializers.ListField(
        child=serializers.IntegerField(),
        min_length=1,
        max_length=100,
        help_text="The parts to upload, 1..part_count, at most 100 a call.",
    )


class PartUrlSerializer(serializers.Serializer[Any]):
    part_number = serializers.IntegerField()
    url = serializers.URLField(help_text="Presigned URL: PUT the part's bytes as the request body.")
    headers = serializers.DictField(
        child=serializers.CharField(), help_text="Headers the PUT must carry (its exact Content-Length)."
    )
    expires_at = serializers.DateTimeField()


class PartUrlsSerializer(serializers.Serializer[Any]):
    parts = PartUrlSerializer(many=True)


class HeldPartSerializer(serializers.Serializer[Any]):
    part_number = serializers.IntegerField()
    size = serializers.IntegerField()
    etag = serializers.CharField()


class HeldPartsSerializer(serializers.Serializer[Any]):
    parts = HeldPartSerializer(many=True)


class InitiatedJobSerializer(JobSerializer):
    """A job with its upload instructions, which the view hands over in the ``upload`` context entry."""

    upload = serializers.SerializerMethodField(
        help_text="Where to PUT the video; null when the job no longer awaits its upload."
    )

    class Meta(JobSerializer.Meta):
        fields: tuple[str, ...] = (*JOB_FIELDS, "artifacts", "upload")
        read_only_fields: tuple[str, ...] = fields

    @extend_schema_field(UploadInstructionsSerializer(allow_null=True))
    def get_upload(self, job: VideoAnalysisJob) -> dict[str, Any] | None:
        upload = self.context.get("upload")
        return None if upload is None else dict(UploadInstructionsSerializer(upload).data)


class InitiateSerializer(serializers.Serializer[Any]):
    filename = serializers.CharField(
        max_length=255,
        trim_whitespace=False,
        help_text="The client's name for the file; shown back, never used as a storage path.",
    )
    content_type = serializers.CharField(max_length=100, help_text="One of the allowed video types.")
    size_bytes = serializers.IntegerField(min_value=1, help_text="Exact size of the file in bytes.")
    sha256 = serializers.RegexField(
        r"^[0-9a-f]{64}$",
        required=False,
        allow_blank=True,
        default="",
        help_text="Optional lowercase hex SHA-256 of the file; checked by the worker after download.",
        error_messages={"invalid": "Must be 64 lowercase hexadecimal characters."},
    )

    def validate_content_type(self, value: str) -> str:
        value = value.strip().lower()
        allowed = settings.VIDEO_JOBS_ALLOWED_CONTENT_TYPES
        if value not in allowed:
            raise serializers.ValidationError(f"Must be one of: {', '.join(allowed)}.")
        return value

    def validate_size_bytes(self, value: int) -> int:
        maximum = settings.VIDEO_JOBS_MAX_UPLOAD_BYTES
        if value > maximum:
            raise serializers.ValidationError(f"Must be at most {maximum} bytes.")
        return value


class ErrorSerializer(serializers.Serializer[Any]):
    error_code = serializers.CharField()
    detail = serializers.CharField()


class QuotaExceededSerializer(ErrorSerializer):
    quota = serializers.ChoiceField(
        choices=["pending_uploads", "active_jobs"], help_text="Which of your limits was reached."
    )
    limit = serializers.IntegerField(help_text="That limit.")


class UploadIncompleteSerializer(ErrorSerializer):
    missing_parts = serializers.ListField(
        child=serializers.IntegerField(), help_text="Parts S3 does not hold (or holds with another size)."
    )
