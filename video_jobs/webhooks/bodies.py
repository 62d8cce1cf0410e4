"""A delivery's request body, rendered at send time from what the outbox recorded.

A job event's ``data`` is the job's copy the outbox took in the transaction of the change, rendered through
the API's own serializer: exactly what ``GET /api/video-jobs/{id}/`` answered at the time of the event
(``result`` summarised). Only the dispatcher renders bodies, so only it (not the services that record
events) depends on the API.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from typing import Any

from django.db.models import DateTimeField
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from ..api.serializers import JobSerializer
from ..models import JOB_FIELDS, VideoAnalysisJob
from .models import EventType, WebhookDelivery

_timestamp = serializers.DateTimeField()


def _job_body(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The job's API body from the columns the outbox copied (as JSON: timestamps are text, and SQLite's
    are naive UTC)."""
    values: dict[str, Any] = {}
    for name in JOB_FIELDS:
        value = snapshot.get(name)
        if value is not None and isinstance(VideoAnalysisJob._meta.get_field(name), DateTimeField):
            parsed = parse_datetime(value)
            if parsed is None:
                raise ValueError(f"unreadable {name} {value!r} in a webhook payload")
            value = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
        elif name == "result" and value is not None:
            value = {key: part for key, part in value.items() if part is not None}
        elif name == "id":
            value = uuid.UUID(str(value))
        values[name] = value
    return dict(JobSerializer(VideoAnalysisJob(**values)).data)


def render_body(delivery: WebhookDelivery) -> str:
    """The request body, ``{"type", "timestamp", "data"}`` in compact JSON: what the signature covers."""
    data = delivery.payload if delivery.event_type == EventType.PING else _job_body(delivery.payload)
    body = {
        "type": delivery.event_type,
        "timestamp": _timestamp.to_representation(delivery.occurred_at),
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
