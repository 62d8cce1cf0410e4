"""The shared machinery: backoff, the retry policy, and what a write leaves in memory."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Q
from django.test import override_settings

from video_jobs import services
from video_jobs.clock import DatabaseNow
from video_jobs.models import ERROR_MESSAGE_MAX_LENGTH, ErrorCode, VideoAnalysisJob
from video_jobs.services import machinery

from .support import processing

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
Stage = VideoAnalysisJob.Stage


@override_settings(VIDEO_JOBS_RETRY_BACKOFF_BASE=4, VIDEO_JOBS_RETRY_BACKOFF_MAX=20)
def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    for attempts, ceiling in [(1, 4), (2, 8), (3, 16), (4, 20), (10, 20)]:
        delays = {services.backoff_delay(attempts).total_seconds() for _ in range(20)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1


def test_the_retry_policy_queues_with_backoff_until_the_last_attempt_then_gives_up(make_job: Any) -> None:
    early = processing(make_job, attempts=1)
    fields = machinery.retry_or_give_up(early, give_up_code=ErrorCode.LOST, message="x" * 5000)
    assert (fields["status"], fields["worker_id"], fields["lease_expires_at"]) == (Status.QUEUED, "", None)
    # A backoff after the database's time, whatever this process's clock says.
    assert isinstance(fields["run_after"], DatabaseNow)
    assert fields["run_after"].offset > timedelta(0)
    assert len(fields["error_message"]) == ERROR_MESSAGE_MAX_LENGTH

    last = processing(make_job, attempts=3)
    fields = machinery.retry_or_give_up(last, give_up_code=ErrorCode.LOST, message="gone")
    assert (fields["status"], fields["error_code"], fields["error_message"]) == (
        Status.FAILED,
        ErrorCode.LOST,
        "gone",
    )


def test_both_write_paths_apply_a_winning_write_in_memory_and_leave_a_losing_one_as_it_was(
    make_job: Any,
) -> None:
    # The ORM path (a guarded move).
    job = make_job(status=Status.QUEUED)
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
    running = processing(make_job, worker="w1")
    assert services.report_progress(job=running, stage=Stage.ANALYZING, progress=40)
    assert (running.stage, running.progress) == (Stage.ANALYZING, 40)
    stale = VideoAnalysisJob.objects.get(pk=running.pk)
    VideoAnalysisJob.objects.filter(pk=running.pk).update(worker_id="w2", attempts=2, progress=70)
    assert not services.report_progress(job=stale, stage=Stage.STORING_RESULTS, progress=90)
    assert (stale.worker_id, stale.attempts, stale.progress) == ("w1", 1, 40)
