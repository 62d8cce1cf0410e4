"""The shared queue statistics behind the admin summary, job_stats and /metrics."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from video_jobs.models import VideoAnalysisJob
from video_jobs.ops.stats import job_stats

from ..support.jobs import make_job

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


@pytest.fixture
def queue(user: Any) -> dict[str, Any]:
    now = timezone.now()
    oldest_queued_at = now - timedelta(minutes=7)
    jobs = {
        "stuck": [make_job(user, Status.AWAITING_UPLOAD, age=timedelta(minutes=m)) for m in (6, 90)],
        "fresh": make_job(user, Status.AWAITING_UPLOAD, age=timedelta(minutes=2)),
        "queued": [
            make_job(user, Status.QUEUED, queued_at=oldest_queued_at),
            make_job(user, Status.QUEUED, queued_at=now - timedelta(minutes=1)),
            # Waiting for a retry's backoff is still waiting in the queue.
            make_job(
                user, Status.QUEUED, queued_at=now - timedelta(minutes=3), run_after=now + timedelta(hours=1)
            ),
        ],
        "stale": make_job(user, Status.PROCESSING, lease_expires_at=now - timedelta(seconds=5)),
        "live": make_job(user, Status.PROCESSING),
        # Queued long ago but no longer waiting: not the oldest queued job.
        "done": [make_job(user, Status.DONE, queued_at=now - timedelta(hours=h)) for h in (1, 2)],
        "failed": make_job(user, Status.FAILED),
    }
    jobs["oldest_queued_at"] = oldest_queued_at
    return jobs


def test_an_empty_queue_counts_zero_everywhere() -> None:
    stats = job_stats()

    assert stats.by_status == dict.fromkeys(Status.values, 0)
    assert stats.total == 0
    assert (stats.stuck_uploads, stats.stale_processing) == (0, 0)
    assert stats.oldest_queued_at is None
    assert stats.oldest_queued_age is None
    assert stats.stuck_upload_minutes == 5


def test_counts_every_status_stuck_uploads_stale_jobs_and_the_oldest_queued(queue: dict[str, Any]) -> None:
    stats = job_stats()

    assert stats.by_status == {
        "awaiting_upload": 3,
        "queued": 3,
        "processing": 2,
        "done": 2,
        "failed": 1,
        "cancelled": 0,
    }
    assert list(stats.by_status) == Status.values  # the lifecycle's order, for tables
    assert stats.total == 11
    assert stats.stuck_uploads == 2
    assert stats.stale_processing == 1
    assert stats.oldest_queued_at == queue["oldest_queued_at"]
    age = stats.oldest_queued_age
    assert age is not None
    assert timedelta(minutes=7) <= age < timedelta(minutes=7, seconds=30)


def test_what_counts_as_stuck_follows_the_setting_or_the_argument(queue: dict[str, Any]) -> None:
    with override_settings(VIDEO_JOBS_STUCK_UPLOAD_MINUTES=60):
        assert job_stats().stuck_uploads == 1
        assert job_stats().stuck_upload_minutes == 60
    assert job_stats(stuck_upload_minutes=1).stuck_uploads == 3


def test_as_dict_is_plain_json(queue: dict[str, Any]) -> None:
    stats = job_stats()
    data = json.loads(json.dumps(stats.as_dict()))

    assert data["by_status"]["queued"] == 3
    assert data["total"] == 11
    assert data["stuck_uploads"] == 2
    assert data["stale_processing"] == 1
    assert data["oldest_queued_at"] == queue["oldest_queued_at"].isoformat()
    assert 420 <= data["oldest_queued_age_seconds"] < 450
