"""Endpoints and job events arranged for the webhook tests.

The outbox's own tests change a job's status the way a service does (a guarded UPDATE) and record the event
in the same transaction, as the services do (their own tests: tests/services/).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from video_jobs.models import VideoAnalysisJob
from video_jobs.webhooks import endpoints, outbox
from video_jobs.webhooks.models import WebhookEndpoint

Status = VideoAnalysisJob.Status

# A result shaped like the PyAV analyzer's, with the parts the summary keeps and the ones it drops.
RESULT = {
    "video": {"container": "mov,mp4", "codec": "h264", "duration_seconds": 10.0, "width": 160, "height": 90},
    "motion": {"timeline": [0.0, 5.2, 10.6] * 200, "segments": [{"start_seconds": 3.0, "end_seconds": 5.0}]},
    "poster": {"artifact": "poster.jpg", "time_seconds": 5.0, "width": 160, "height": 90},
    "source": {"size_bytes": 1234, "sha256": "ab" * 32, "etag": '"etag"'},
    "artifacts": {
        "poster.jpg": {"key": "videos/x/poster.jpg", "content_type": "image/jpeg", "size_bytes": 9}
    },
}
SUMMARY = {key: RESULT[key] for key in ("video", "poster", "artifacts")}


def make_endpoint(owner: Any, url: str, **fields: Any) -> WebhookEndpoint:
    return endpoints.create_endpoint(owner=owner, url=url, **fields)


def finish(job: VideoAnalysisJob, *, result: dict[str, Any] | None = None) -> int:
    """processing -> done with ``result``, and its event, in one transaction. Returns how many deliveries."""
    now = timezone.now()
    with transaction.atomic():
        moved = VideoAnalysisJob.objects.filter(pk=job.pk, status=job.status).update(
            status=Status.DONE,
            stage=VideoAnalysisJob.Stage.DONE,
            progress=100,
            result=RESULT if result is None else result,
            finished_at=now,
            updated_at=now,
        )
        assert moved == 1
        written = outbox.record_job_event(job=job, event_type=outbox.EVENT_OF_STATUS[Status.DONE])
    job.refresh_from_db()
    return written
