"""The shared machinery: backoff, the retry policy, what a write leaves in memory, and the webhook events
written with a change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Q
from django.test import override_settings

from video_jobs import services
from video_jobs.clock import DatabaseNow
from video_jobs.error_codes import ERROR_MESSAGE_MAX_LENGTH, NEXT_STEP, ErrorCode
from video_jobs.models import VideoAnalysisJob
from video_jobs.services import machinery
from video_jobs.services.machinery import failed_fields
from video_jobs.webhooks import endpoints
from video_jobs.webhooks.models import WebhookDelivery

from ..support.jobs import VIDEO, make_job, processing

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
Stage = VideoAnalysisJob.Stage
URL = "https://hooks.example.com/cricksy"


@override_settings(VIDEO_JOBS_RETRY_BACKOFF_BASE=4, VIDEO_JOBS_RETRY_BACKOFF_MAX=20)
def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    for attempts, ceiling in [(1, 4), (2, 8), (3, 16), (4, 20), (10, 20)]:
        delays = {services.backoff_delay(attempts).total_seconds() for _ in range(20)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1


def test_the_retry_policy_queues_with_backoff_until_the_last_attempt_then_gives_up(user: Any) -> None:
    early = processing(user, attempts=1)
    fields = machinery.retry_or_give_up(early, give_up_code=ErrorCode.LOST, message="x" * 5000)
    assert (fields["status"], fields["worker_id"], fields["lease_expires_at"]) == (Status.QUEUED, "", None)
    # A backoff after the database's time, whatever this process's clock says.
    assert isinstance(fields["run_after"], DatabaseNow)
    assert fields["run_after"].offset > timedelta(0)
    assert len(fields["error_message"]) == ERROR_MESSAGE_MAX_LENGTH

    last = processing(user, attempts=3)
    fields = machinery.retry_or_give_up(last, give_up_code=ErrorCode.LOST, message="gone")
    assert (fields["status"], fields["error_code"], fields["error_message"]) == (
        Status.FAILED,
        ErrorCode.LOST,
        f"gone. {NEXT_STEP[ErrorCode.LOST]}",
    )


def test_both_write_paths_apply_a_winning_write_in_memory_and_leave_a_losing_one_as_it_was(user: Any) -> None:
    # The ORM path (a guarded move).
    job = make_job(user, Status.QUEUED)
    loser = VideoAnalysisJob.objects.get(pk=job.pk)
    assert machinery.move(job, Q(status=Status.QUEUED), status=Status.CANCELLED, stage=Stage.CANCELLED)
    assert (job.status, job.stage) == (Status.CANCELLED, Stage.CANCELLED)
    assert not machinery.move(loser, Q(status=Status.QUEUED), status=Status.CANCELLED, stage=Stage.CANCELLED)
    assert loser.status == Status.QUEUED

    # The API's and the admin's moves then show the winner's row.
    VideoAnalysisJob.objects.filter(pk=job.pk).update(error_message="changed by another process")
    assert not services.cancel_job(job=loser)
    assert (loser.status, loser.error_message) == (Status.CANCELLED, "changed by another process")

    # The fenced statement: the same two rules, and a worker never adopts its successor's identity.
    running = processing(user, worker="w1")
    assert services.report_progress(job=running, stage=Stage.ANALYZING, progress=40)
    assert (running.stage, running.progress) == (Stage.ANALYZING, 40)
    stale = VideoAnalysisJob.objects.get(pk=running.pk)
    VideoAnalysisJob.objects.filter(pk=running.pk).update(worker_id="w2", attempts=2, progress=70)
    assert not services.report_progress(job=stale, stage=Stage.STORING_RESULTS, progress=90)
    assert (stale.worker_id, stale.attempts, stale.progress) == ("w1", 1, 40)


# --- webhook events: written with the change that causes them ----------------------------------------------


def _events() -> list[tuple[str, Any]]:
    return list(WebhookDelivery.objects.order_by("id").values_list("event_type", "job_id"))


def test_every_end_of_a_job_and_its_verified_upload_are_announced_to_its_owner(
    user: Any, put_video: Any
) -> None:
    endpoints.create_endpoint(owner=user, url=URL)
    uploaded = make_job(user)
    put_video(uploaded, VIDEO)
    services.complete_upload(job=uploaded)
    cancelled = make_job(user)
    services.cancel_job(job=cancelled)
    finished = processing(user)
    services.finish_job(job=finished, result={"frames": 2})
    failed = processing(user)
    services.fail_job(job=failed, code=ErrorCode.INVALID_VIDEO, message="The file holds no video stream.")

    assert _events() == [
        ("video_job.queued", uploaded.pk),
        ("video_job.cancelled", cancelled.pk),
        ("video_job.done", finished.pk),
        ("video_job.failed", failed.pk),
    ]


def test_a_running_job_that_goes_back_to_the_queue_announces_nothing(user: Any) -> None:
    endpoints.create_endpoint(owner=user, url=URL)
    retried = processing(user, attempts=1)
    assert services.retry_job(job=retried, message="Storage was temporarily unavailable.")
    released = processing(user, attempts=1)
    assert services.release_job(job=released)
    expired = processing(user, attempts=1, lease_in=-5)
    assert services.requeue_stale_job(job=expired)
    assert _events() == []

    # ... until its attempts run out: that is its end.
    last = processing(user, attempts=3)
    assert services.retry_job(job=last, message="Storage was temporarily unavailable.")
    assert _events() == [("video_job.failed", last.pk)]


def test_a_change_that_did_not_happen_announces_nothing(user: Any) -> None:
    endpoints.create_endpoint(owner=user, url=URL)
    job = processing(user)
    VideoAnalysisJob.objects.filter(pk=job.pk).update(worker_id="successor", attempts=2)
    assert not services.finish_job(job=job, result={})
    assert not services.cancel_job(job=job)
    assert _events() == []


def test_every_failure_ends_with_what_the_client_can_do_now() -> None:
    assert set(NEXT_STEP) == set(ErrorCode)
    for code in ErrorCode:
        message = failed_fields(code, "It broke.")["error_message"]
        assert message.startswith("It broke. Start a new upload"), code
        # However long the cause, the way on is kept.
        long = failed_fields(code, "x" * 5000)["error_message"]
        assert len(long) <= ERROR_MESSAGE_MAX_LENGTH
        assert long.endswith(NEXT_STEP[code])
