"""Companion's request and answer bodies, as serializers for the OpenAPI schema.

The views read requests by hand and answer plain dicts, exactly as Companion does (``serializers`` says how
a request becomes our services' arguments); these classes say the same shapes to the schema, field for
field, so that the schema states what Uppy sends and reads. Field names are Companion's (``uploadId``,
``PartNumber``...), not ours.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from drf_spectacular.drainage import set_override
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..api.serializers import SHA256_PATTERN, ErrorSerializer, allowed_content_types
from ..s3.multipart import MAX_SINGLE_PUT

FILE_ID_HELP = (
    "Optional: a name for this adding of the file, unique per upload; a create retried with it gets the "
    "first create's job back (it stands for an Idempotency-Key). Any value, read as text."
)


@extend_schema_field({})
class AnyValueField(serializers.Field):  # type: ignore[type-arg]  # a schema-only field: any JSON value
    """A value the view reads as ``str(value)``, whatever its JSON type."""


@extend_schema_field({"type": "string"})
class VerbatimStringField(serializers.Field):  # type: ignore[type-arg]  # a schema-only field
    """A string the view only checks for being a string: unlike DRF's CharField, NUL characters pass."""


def _allowed_types(field: serializers.Field) -> None:  # type: ignore[type-arg]
    # The allowed types are a setting, so the enum is set with each instance (the schema generator makes one).
    set_override(field, "field", {"type": "string", "enum": allowed_content_types()})


class UppyMetadataSerializer(serializers.Serializer[Any]):
    """Uppy's ``file.meta`` (the fields the page allows). Others (name, type, relativePath...) are ignored."""

    size = serializers.IntegerField(
        min_value=1,
        help_text="The file's exact size in bytes. Uppy does not send it: the page adds it "
        "(uppy.setFileMeta(file.id, {size: file.size})). Checked against the object S3 holds.",
    )
    sha256 = serializers.CharField(
        required=False,
        help_text="Optional lowercase hex SHA-256 of the file; checked by the worker after download.",
    )
    file_id = AnyValueField(required=False, help_text=FILE_ID_HELP)
    fileId = AnyValueField(required=False, help_text="The same as file_id (file_id wins when both are set).")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_override(self.fields["sha256"], "field", {"type": "string", "pattern": SHA256_PATTERN})
        size = cast(serializers.IntegerField, self.fields["size"])
        size.max_value = settings.VIDEO_JOBS_MAX_UPLOAD_BYTES


class UppyCreateSerializer(serializers.Serializer[Any]):
    """``POST /s3/multipart``: what ``@uppy/aws-s3`` sends to start a multipart upload."""

    filename = serializers.CharField(
        min_length=1,
        max_length=255,
        trim_whitespace=False,
        help_text="The file's name (shown back as the job's filename, never used as the object key).",
    )
    type = serializers.CharField(help_text="The file's MIME type: one of the allowed video types.")
    metadata = UppyMetadataSerializer()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _allowed_types(self.fields["type"])


class UppyMultipartUploadSerializer(serializers.Serializer[Any]):
    uploadId = serializers.CharField(help_text="S3's multipart upload id: Uppy puts it in every later call.")
    key = serializers.CharField(help_text="The object key the server chose (it names the job).")
    bucket = serializers.CharField()


class UppyPartUrlSerializer(serializers.Serializer[Any]):
    url = serializers.URLField(
        help_text="Presigned UploadPart URL: PUT the part's bytes, with no header but Content-Length."
    )
    expires = serializers.IntegerField(help_text="Seconds the URL stays valid.")


class UppyHeldPartSerializer(serializers.Serializer[Any]):
    PartNumber = serializers.IntegerField()
    ETag = serializers.CharField(help_text="As S3 lists it (quoted): send it back verbatim at complete.")
    Size = serializers.IntegerField()


class UppyCompletedPartSerializer(serializers.Serializer[Any]):
    PartNumber = serializers.IntegerField()
    ETag = VerbatimStringField(help_text="Quoted or not: the server assembles what S3 lists.")


class UppyCompleteSerializer(serializers.Serializer[Any]):
    """``POST /s3/multipart/{uploadId}/complete``: Companion's check only (a list of {PartNumber: integer,
    ETag: string}); the parts are assembled from what S3 holds, each checked against the job's plan."""

    parts = UppyCompletedPartSerializer(many=True)


class UppyUploadLocationSerializer(serializers.Serializer[Any]):
    location = serializers.URLField(help_text="The job's API URL: GET it (with your API token) to follow it.")
    key = serializers.CharField()
    bucket = serializers.CharField()


class UppyAbortedSerializer(serializers.Serializer[Any]):
    """``{}``, as Companion answers an abort."""


class UppyUploadParametersSerializer(serializers.Serializer[Any]):
    method = serializers.ChoiceField(choices=["POST"], help_text="Always POST: an S3 POST-policy form.")
    url = serializers.URLField(help_text="The bucket's URL: POST the form there.")
    # Companion's names. DRF's metaclass takes declared fields off the class, so Serializer.fields and
    # .errors stay what they are.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.CharField(),
        help_text="Form fields to send, in order, before the file (last, as `file`); `key` among them.",
    )
    expires = serializers.IntegerField(help_text="Seconds the policy stays valid.")


class UppyFieldErrorsSerializer(serializers.Serializer[Any]):
    """400 on the Uppy routes: error_code ``invalid`` with the refused fields under ``errors`` (in Uppy's
    names: filename, type, metadata.size, key, parts, partNumber), or ``parse_error`` for a body that is
    not JSON."""

    error_code = serializers.CharField(help_text="invalid, or parse_error.")
    detail = serializers.CharField()
    errors = serializers.DictField(  # type: ignore[assignment]  # Companion's name (see fields above)
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Each refused field's messages (invalid only).",
    )


class UppyConflictSerializer(ErrorSerializer):
    """409 on the Uppy routes, with what the page needs to show why."""

    location = serializers.URLField(
        required=False,
        help_text="The job's API URL (upload_closed, job_cancelled, a failed job's code): GET it for why.",
    )
    missing_parts = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="upload_incomplete: the parts S3 does not hold (or holds with another size).",
    )


class UppyUploadParametersQuerySerializer(serializers.Serializer[Any]):
    """``GET /s3/params``'s query, as Uppy sends it: ``filename``, ``type`` and one ``metadata[<name>]`` per
    meta field the page allows (every value a string there). Other meta fields are ignored."""

    filename = serializers.CharField(
        min_length=1, max_length=255, trim_whitespace=False, help_text="The file's name (shown back)."
    )
    type = serializers.CharField(help_text="The file's MIME type: one of the allowed video types.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _allowed_types(self.fields["type"])
        # Query names with brackets cannot be attribute names.
        self.fields["metadata[size]"] = serializers.IntegerField(
            min_value=1,
            max_value=min(MAX_SINGLE_PUT, settings.VIDEO_JOBS_MAX_UPLOAD_BYTES),
            help_text="The file's exact size in bytes (the page adds it: Uppy does not send it). Larger "
            "files go in parts (POST /s3/multipart).",
        )
        self.fields["metadata[sha256]"] = serializers.CharField(
            required=False, allow_blank=True, help_text="Optional lowercase hex SHA-256 of the file."
        )
        set_override(self.fields["metadata[sha256]"], "field", {"type": "string", "pattern": SHA256_PATTERN})
        self.fields["metadata[file_id]"] = VerbatimStringField(required=False, help_text=FILE_ID_HELP)
        self.fields["metadata[fileId]"] = VerbatimStringField(
            required=False, help_text="The same as metadata[file_id]."
        )
