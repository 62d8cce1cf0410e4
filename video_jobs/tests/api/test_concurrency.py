"""Concurrency proofs against a real PostgreSQL server: many callers, exactly one transition."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from video_jobs import services
from video_jobs.models import VideoAnalysisJob

from ..support.api_requests import complete, initiate
from ..support.concurrency import race
from ..support.jobs import VIDEO, make_job

pytestmark = pytest.mark.postgres

CALLERS = 20


def test_twenty_concurrent_upload_completes_move_the_job_exactly_once(user: Any, put_video: Any) -> None:
    job = make_job(user)
    put_video(job, VIDEO)

    results = race(CALLERS, lambda: services.complete_upload(job=VideoAnalysisJob.objects.get(pk=job.pk)))

    assert sum(result.changed for result in results) == 1
    assert {result.job.status for result in results} == {"queued"}
    job.refresh_from_db()
    assert job.status == "queued"


def test_twenty_concurrent_upload_complete_requests_all_answer_200(
    api: Any, user: Any, put_video: Any
) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    queued_at = set()

    def call() -> int:
        response = complete(api, job.pk)
        queued_at.add(response.json()["queued_at"])
        return int(response.status_code)

    assert race(CALLERS, call) == [200] * CALLERS
    assert len(queued_at) == 1  # one transition, seen identically by every caller


def test_concurrent_upload_completes_for_a_missing_object_fail_it_once(user: Any) -> None:
    job = make_job(user)
    results = race(CALLERS, lambda: services.complete_upload(job=VideoAnalysisJob.objects.get(pk=job.pk)))
    assert sum(result.changed for result in results) == 1
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "upload_missing")


def test_concurrent_initiates_with_one_idempotency_key_create_one_job(api: Any) -> None:
    statuses = race(10, lambda: initiate(api, idempotency_key="tap-tap-tap").status_code)
    assert sorted(statuses) == [200] * 9 + [201]
    assert VideoAnalysisJob.objects.count() == 1


def test_concurrent_cancel_and_upload_complete_leave_one_consistent_outcome(
    user: Any, put_video: Any
) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    barrier_calls: list[Callable[[], Any]] = [
        lambda: services.complete_upload(job=VideoAnalysisJob.objects.get(pk=job.pk)),
        lambda: services.cancel_job(job=VideoAnalysisJob.objects.get(pk=job.pk)),
    ] * 5
    index = iter(range(len(barrier_calls)))
    lock = threading.Lock()

    def call() -> Any:
        with lock:
            mine = barrier_calls[next(index)]
        return mine()

    race(len(barrier_calls), call)
    job.refresh_from_db()
    # Cancel wins from awaiting_upload or queued, so the job ends cancelled whichever ran first, and a
    # cancelled job is never queued again.
    assert job.status == "cancelled"
