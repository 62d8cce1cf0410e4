"""Fixtures of the services tests."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from video_jobs import services
from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage
from video_jobs.s3.embedded import free_port

from .support import DATA, STAGE_OF

Status = VideoAnalysisJob.Status


@pytest.fixture
def make_job(user: Any) -> Any:
    def make(*, size: int = len(DATA), **fields: Any) -> VideoAnalysisJob:
        job, _ = services.initiate_upload(
            owner=user, filename="clip.mp4", content_type="video/mp4", size_bytes=size
        )
        if fields:
            if "status" in fields:
                # Arranged in any status; the stage follows it, as the database requires.
                fields.setdefault("stage", STAGE_OF[Status(fields["status"])])
            VideoAnalysisJob.objects.filter(pk=job.pk).update(**fields)
            job.refresh_from_db()
        return job

    return make


@pytest.fixture
def s3_down() -> Any:
    # Nothing listens on this port: every S3 call is a real connection error.
    return override_settings(AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")


@pytest.fixture
def heads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every HeadObject key, still calling the real S3."""
    seen: list[str] = []
    real = storage.head

    def recording(*, bucket: str, key: str) -> storage.ObjectInfo:
        seen.append(key)
        return real(bucket=bucket, key=key)

    monkeypatch.setattr(storage, "head", recording)
    return seen
