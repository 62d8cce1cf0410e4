"""What a job offers its owner to download, and where the API serves it.

A finished job's ``result`` names what the worker stored beside the video (``result.artifacts``: name →
``{key, content_type, size_bytes}``, the poster frame among them); a done job's video itself is offered as
``source`` until the retention period deletes it. Only columns a webhook payload carries are read, so its
``artifacts`` are the API's. Clients never see a key: they get ``/api/video-jobs/<id>/artifacts/<name>``,
which answers a short-lived presigned GET.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from ..models import VideoAnalysisJob
from . import storage

# The source video's name among the artifacts: its key (storage.video_key) ends so.
SOURCE = "source"


@dataclass(frozen=True)
class Artifact:
    name: str
    content_type: str
    key: str


def of_job(job: VideoAnalysisJob) -> list[Artifact]:
    """The job's artifacts by name. The keys are the server's own (never read back from ``result``, which
    only says which names exist)."""
    result: Any = job.result if isinstance(job.result, dict) else {}
    stored = result.get("artifacts")
    found = {}
    if isinstance(stored, dict):
        for name, about in sorted(stored.items()):
            if name == SOURCE or not isinstance(about, dict):
                continue
            content_type = str(about.get("content_type") or "application/octet-stream")
            found[name] = Artifact(name, content_type, storage.artifact_key(job.pk, name))
    # A done job's video was verified and analysed; it stays until the retention period deletes it.
    if job.status == VideoAnalysisJob.Status.DONE and job.source_deleted_at is None:
        found[SOURCE] = Artifact(SOURCE, job.content_type, job.s3_key or storage.video_key(job.pk))
    return list(found.values())


def find(job: VideoAnalysisJob, name: str) -> Artifact | None:
    return next((artifact for artifact in of_job(job) if artifact.name == name), None)


def path(job: VideoAnalysisJob, name: str) -> str:
    """The API path that redirects to the artifact (absolute once a request builds it)."""
    return reverse("video-job-artifact", kwargs={"pk": str(job.pk), "name": name})
