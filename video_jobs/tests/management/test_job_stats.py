"""``python manage.py job_stats``: the queue's state as a table for people and as JSON for scripts."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from video_jobs.models import VideoAnalysisJob

from ..support.jobs import make_job

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


def job_stats(*args: str) -> str:
    out = io.StringIO()
    call_command("job_stats", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def some_jobs(user: Any) -> None:
    now = timezone.now()
    make_job(user, Status.AWAITING_UPLOAD, age=timedelta(minutes=20))
    make_job(user, Status.AWAITING_UPLOAD)
    make_job(user, Status.QUEUED, queued_at=now - timedelta(minutes=12))
    make_job(user, Status.PROCESSING, lease_expires_at=now - timedelta(minutes=1))
    make_job(user, Status.DONE, queued_at=now - timedelta(hours=2))


def test_the_table_shows_every_status_and_the_numbers_operators_watch(some_jobs: None) -> None:
    lines = job_stats().splitlines()

    assert lines[0].split() == ["status", "jobs"]
    assert [line.split() for line in lines[1:8]] == [
        ["awaiting_upload", "2"],
        ["queued", "1"],
        ["processing", "1"],
        ["done", "1"],
        ["failed", "0"],
        ["cancelled", "0"],
        ["total", "5"],
    ]
    assert "stuck uploads (awaiting_upload > 5 min): 1" in lines
    assert "stale processing (lease expired): 1" in lines
    [oldest] = [line for line in lines if line.startswith("oldest queued job waiting: ")]
    assert "12\xa0minutes (queued " in oldest


def test_an_empty_queue_says_none_queued() -> None:
    assert "oldest queued job waiting: none queued" in job_stats()


def test_json_for_scripts(some_jobs: None) -> None:
    data = json.loads(job_stats("--json"))

    assert data["by_status"] == {
        "awaiting_upload": 2,
        "queued": 1,
        "processing": 1,
        "done": 1,
        "failed": 0,
        "cancelled": 0,
    }
    assert (data["total"], data["stuck_uploads"], data["stale_processing"]) == (5, 1, 1)
    assert data["stuck_upload_minutes"] == 5
    assert 720 <= data["oldest_queued_age_seconds"] < 750


def test_stuck_minutes_can_be_given(some_jobs: None) -> None:
    assert json.loads(job_stats("--json", "--stuck-minutes", "30"))["stuck_uploads"] == 0
    assert "stuck uploads (awaiting_upload > 30 min): 0" in job_stats("--stuck-minutes=30")
    with pytest.raises(CommandError, match="at least 1"):
        job_stats("--stuck-minutes", "0")
