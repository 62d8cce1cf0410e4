"""What Uppy sends, read into what our services take: the declared file (checked by the initiate
serializer, field for field), the part plan Uppy will follow, the stable id that makes a create
retryable, and Companion's check of a complete body."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from ..api.serializers import InitiateSerializer
from ..s3.multipart import MAX_PARTS, PartPlan

# Uppy's own rule (@uppy/aws-s3 6, getChunkSize unset): ceil(size / 10 000), at least 5 MiB. Every part but
# the last is exactly that, so the server can sign each part's exact Content-Length.
UPPY_MIN_PART = 5 * 1024**2
# Our name for each field (or service argument) in Uppy's terms, so a 400 says what the page must change.
UPPY_NAMES = {
    "filename": "filename",
    "content_type": "type",
    "size_bytes": "metadata.size",
    "sha256": "metadata.sha256",
    "part_numbers": "partNumber",
}
# Metadata the page may add that names the file stably (its Uppy id plus when it was added), so that a
# retried create finds the job the first one made.
FILE_ID_FIELDS = ("file_id", "fileId")


def uppy_part_plan(size: int) -> PartPlan:
    part_size = max(UPPY_MIN_PART, math.ceil(size / MAX_PARTS))
    return PartPlan(part_size=part_size, part_count=math.ceil(size / part_size))


def declared_file(*, filename: Any, content_type: Any, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The ``initiate_upload`` arguments, validated exactly as initiate validates them (its serializer).
    ``metadata.size`` is required: Uppy does not send the size unless the page puts it there."""
    data = {"filename": filename, "content_type": content_type, "size_bytes": metadata.get("size")}
    # Present is checked, whatever it is ({} or 0 too): only a missing or null one means no checksum.
    if metadata.get("sha256") is not None:
        data["sha256"] = metadata["sha256"]
    checked = InitiateSerializer(data={name: value for name, value in data.items() if value is not None})
    if not checked.is_valid():
        raise ValidationError({UPPY_NAMES.get(name, name): errors for name, errors in checked.errors.items()})
    return dict(checked.validated_data)


def idempotency_key(kind: str, metadata: Mapping[str, Any]) -> str | None:
    """The Idempotency-Key a create stands for, when the page gave the file a stable id: one per route kind,
    so a multipart create can never be answered with a single upload's job."""
    file_id = next((str(metadata[name]) for name in FILE_ID_FIELDS if metadata.get(name)), "")
    if not file_id:
        return None
    return f"uppy-{kind}:{hashlib.sha256(file_id.encode()).hexdigest()}"


def query_metadata(query: Mapping[str, str]) -> dict[str, str]:
    """``metadata[name]=value`` query parameters (route 1) as a dict; every value is a string there."""
    return {
        name[9:-1]: value for name, value in query.items() if name.startswith("metadata[") and name[-1] == "]"
    }


def completed_parts(data: Any) -> list[dict[str, Any]]:
    """Companion's check of ``{parts: [{PartNumber, ETag}]}``: a list whose items each have a numeric
    PartNumber and a string ETag. The list is not trusted beyond that: assembly uses what S3 holds."""
    parts = data.get("parts") if isinstance(data, dict) else None
    if not isinstance(parts, list) or not all(
        isinstance(part, dict)
        and isinstance(part.get("PartNumber"), int)
        and not isinstance(part.get("PartNumber"), bool)
        and isinstance(part.get("ETag"), str)
        for part in parts
    ):
        raise ValidationError({"parts": ["Must be a list of {PartNumber: integer, ETag: string}."]})
    return parts


class CompanionEndpointSerializer(serializers.Serializer[Any]):
    companion_endpoint = serializers.URLField(
        help_text="Give it to Uppy: new Uppy().use(AwsS3, {companionEndpoint}). It carries your credential."
    )
    expires_at = serializers.DateTimeField(help_text="Ask for a new one before then.")
