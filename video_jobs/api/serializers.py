"""Request validation and response bodies of the video jobs API."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from drf_spectacular.drainage import set_override
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField

from ..models import JOB_FIELDS, ErrorCode, VideoAnalysisJob
from ..s3 import artifacts
from ..s3.multipart import MAX_PARTS
from .result_schema import AnalysisResultSerializer

SHA256_PATTERN = r"^([0-9a-f]{64})?$"


class TextField(serializers.CharField):
    """DRF's CharField, taking only strings, as the schema says: DRF reads a number as its text (a
    ``filename`` of 0 made a job)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class JobArtifactSerializer(serializers.Serializer[Any]):
    """A file of the job's to download through the API (the result's own `artifacts` name them in S3)."""

    name = serializers.CharField(help_text="poster.jpg, source (the video, until retention deletes it), ...")
    content_type = serializers.CharField()
    url = serializers.CharField(help_text="GET it: 302 to a presigned S3 URL valid for a few minutes.")


class BlankAsNullChoiceField(serializers.ChoiceField):
    """A choice stored as "" when there is none, sent as null: clients test for null, not for a blank code."""

    def to_representation(self, value: Any) -> Any:
        return None if value == "" else super().to_representation(value)


@extend_schema_field(AnalysisResultSerializer(allow_null=True))
class ResultField(serializers.JSONField):
    """The analysis result as stored (null until the job is done); its schema is AnalysisResult."""


# Each class's readable fields, bound once to an instance of the class kept for that alone (FieldsOnce).
_READABLE: dict[type[serializers.Serializer[Any]], list[serializers.Field[Any, Any, Any, Any]]] = {}


class FieldsOnce(serializers.Serializer[Any]):
    """DRF's ``to_representation``, without building the fields again for every instance: DRF deep-copies a
    serializer's fields for each instance (and a ModelSerializer first reads the model to make them), which
    was most of a GET's time. The response bodies' fields depend on the class alone (none reads the request
    or the instance), so they are made once per class and shared; method fields call this instance's own
    method, with its context. What they send is the same (test_serializers compares it with DRF's)."""

    def to_representation(self, instance: Any) -> dict[str, Any]:
        cls = type(self)
        readable = _READABLE.get(cls)
        if readable is None:
            readable = _READABLE[cls] = list(cls()._readable_fields)
        body: dict[str, Any] = {}
        for field in readable:
            name = str(field.field_name)
            if isinstance(field, serializers.SerializerMethodField):
                body[name] = getattr(self, field.method_name)(instance)
                continue
            try:
                attribute = field.get_attribute(instance)
            except SkipField:  # an optional key the instance does not have
                continue
            body[name] = None if attribute is None else field.to_representation(attribute)
        return body


class JobSerializer(FieldsOnce, serializers.ModelSerializer[VideoAnalysisJob]):
    error_code = BlankAsNullChoiceField(
        choices=ErrorCode.choices,
        allow_null=True,
        read_only=True,
        help_text="Why the job failed (a stable code); null unless it failed.",
    )
    result = ResultField(read_only=True)
    artifacts = serializers.SerializerMethodField(help_text="What the finished job offers to download.")

    class Meta:
        model = VideoAnalysisJob
        fields: tuple[str, ...] = (*JOB_FIELDS, "artifacts")
        read_only_fields: tuple[str, ...] = fields

    @extend_schema_field(JobArtifactSerializer(many=True))
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


class JobOverviewSerializer(serializers.Serializer[Any]):
    duration_seconds = serializers.FloatField(allow_null=True, help_text="The video's length.")
    segment_count = serializers.IntegerField(allow_null=True, help_text="High-activity segments found.")
    poster_url = serializers.CharField(
        allow_null=True, help_text="The poster frame through the artifacts endpoint (a thumbnail)."
    )


# What a list row shows of a done job's result, read by the database (``overview_columns``) rather than
# loading whole results: (annotation, path in result).
OVERVIEW_PATHS = {
    "overview_duration": "result__video__duration_seconds",
    "overview_segments": "result__motion__segment_count",
    "overview_poster": "result__poster__artifact",
}


class JobSummarySerializer(JobSerializer):
    """A job in a list: everything but its ``result``, which only the job's own GET sends (a result is up to
    64 KiB; a page of them would be megabytes), and instead a done job's ``overview``."""

    overview = serializers.SerializerMethodField(
        help_text="A done job's duration, segment count and poster; null for other jobs."
    )

    class Meta(JobSerializer.Meta):
        fields: tuple[str, ...] = (*(name for name in JOB_FIELDS if name != "result"), "overview")
        read_only_fields: tuple[str, ...] = fields

    @extend_schema_field(JobOverviewSerializer(allow_null=True))
    def get_overview(self, job: VideoAnalysisJob) -> dict[str, Any] | None:
        if job.status != VideoAnalysisJob.Status.DONE:
            return None
        values = {name: getattr(job, name, None) for name in OVERVIEW_PATHS}
        duration, segments, poster = values.values()
        request = self.context.get("request")
        poster_url = None
        if isinstance(poster, str) and poster:
            poster_url = artifacts.path(job, poster)
            if request is not None:
                poster_url = request.build_absolute_uri(poster_url)
        return {
            "duration_seconds": duration if isinstance(duration, (int, float)) else None,
            "segment_count": segments if isinstance(segments, int) else None,
            "poster_url": poster_url,
        }


class UploadInstructionsSerializer(FieldsOnce):
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
        child=serializers.IntegerField(min_value=1, max_value=MAX_PARTS),
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


def allowed_content_types() -> list[str]:
    """The enum of every field that names a video type (initiate's content_type, Uppy's type): one schema
    component, ContentTypeEnum (SPECTACULAR_SETTINGS' ENUM_NAME_OVERRIDES names it by this function)."""
    return list(settings.VIDEO_JOBS_ALLOWED_CONTENT_TYPES)


class InitiateSerializer(serializers.Serializer[Any]):
    filename = TextField(
        min_length=1,
        max_length=255,
        trim_whitespace=False,
        help_text="The client's name for the file; shown back, never used as a storage path.",
    )
    content_type = TextField(
        max_length=100, help_text="One of the allowed video types (compared case-insensitively)."
    )
    size_bytes = serializers.IntegerField(min_value=1, help_text="Exact size of the file in bytes.")
    # "" (or leaving it out) means no checksum; the pattern says so, so that the default matches it.
    sha256 = serializers.RegexField(
        SHA256_PATTERN,
        required=False,
        allow_blank=True,
        default="",
        help_text="Optional lowercase hex SHA-256 of the file; checked by the worker after download.",
        error_messages={"invalid": "Must be 64 lowercase hexadecimal characters."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The limits are settings, so the schema's enum and maximum are set with each instance (the schema
        # generator makes one too); validate_* below enforce them with messages that name the limit.
        set_override(
            self.fields["content_type"], "field", {"type": "string", "enum": allowed_content_types()}
        )
        # DRF needs allow_blank to let "" reach the pattern; drf-spectacular would then drop the pattern.
        set_override(
            self.fields["sha256"], "field", {"type": "string", "pattern": SHA256_PATTERN, "default": ""}
        )
        size_bytes = cast(serializers.IntegerField, self.fields["size_bytes"])
        size_bytes.max_value = settings.VIDEO_JOBS_MAX_UPLOAD_BYTES

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
    """The body of every error: a stable code to branch on and a message for people."""

    error_code = serializers.CharField(
        help_text="Stable code: the API's own (storage_unavailable, idempotency_key_reused, quota_exceeded, "
        "webhook_endpoint_limit, webhook_endpoint_disabled...) or DRF's (invalid, parse_error, "
        "not_authenticated, authentication_failed, permission_denied, not_found, throttled...)."
    )
    detail = serializers.CharField()


class FieldErrorsSerializer(serializers.Serializer[Any]):
    """400: ``error_code`` (invalid, or parse_error with ``detail``) beside each refused field's messages."""

    error_code = serializers.CharField(help_text="invalid, or parse_error for a body that is not JSON.")
    detail = serializers.CharField(required=False, help_text="Only when the body could not be parsed.")
    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)

    class Meta:
        # Every other key is a field (or header) name with its messages (or, for a list, messages by index).
        additional_properties: dict[str, Any] = {
            "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}]
        }


class QuotaExceededSerializer(ErrorSerializer):
    """429 from initiate: quota_exceeded (with quota and limit), or throttled (too many requests)."""

    quota = serializers.ChoiceField(
        choices=["pending_uploads", "active_jobs"],
        required=False,
        help_text="Which of your limits was reached (quota_exceeded only).",
    )
    limit = serializers.IntegerField(required=False, help_text="That limit (quota_exceeded only).")


class UploadIncompleteSerializer(ErrorSerializer):
    missing_parts = serializers.ListField(
        child=serializers.IntegerField(), help_text="Parts S3 does not hold (or holds with another size)."
    )
