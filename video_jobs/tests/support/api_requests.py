"""The job API's calls as a client makes them, and the fields a job's body has."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from .jobs import VIDEO

INITIATE = "/api/video-jobs/initiate/"
JOB_BODY_FIELDS = {
    "id",
    "status",
    "stage",
    "progress",
    "filename",
    "content_type",
    "size_bytes",
    "attempts",
    "error_code",
    "error_message",
    "result",
    "created_at",
    "updated_at",
    "queued_at",
    "started_at",
    "finished_at",
}


def initiate(api: APIClient, **overrides: Any) -> Any:
    """POST initiate for a video of ``len(VIDEO)`` bytes; ``idempotency_key`` goes in its header."""
    body = {"filename": "over 1.mp4", "content_type": "video/mp4", "size_bytes": len(VIDEO)}
    body.update(overrides)
    headers: dict[str, Any] = {}
    if "idempotency_key" in body:
        headers["HTTP_IDEMPOTENCY_KEY"] = body.pop("idempotency_key")
    return api.post(INITIATE, body, format="json", **headers)


def complete(api: APIClient, job_id: Any) -> Any:
    return api.post(f"/api/video-jobs/{job_id}/upload-complete/")
