"""The heartbeat: it renews the running attempt's lease, notices a lost one, and hands the job back when
a shutdown's grace period runs out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from video_jobs import services
from video_jobs.analysis import Analysis, JobInfo, JobInterrupted, ProgressCallback, noop_analyzer
from video_jobs.models import VideoAnalysisJob
from video_jobs.worker.attempt import Attempt
from video_jobs.worker.heartbeat import Heartbeat

from ..support.waiting import wait_for
from ..support.worker_support import Job, MakeWorker, QueueJob, fresh

pytestmark = pytest.mark.django_db


# --- through a worker -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@override_settings(VIDEO_JOBS_LEASE_SECONDS=2)
def test_the_heartbeat_renews_the_lease_of_a_job_that_outlives_it(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(b"x" * 1000)

    def long_job(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
        first_lease = fresh(job).lease_expires_at
        assert first_lease is not None
        # Stay busy (the heartbeat runs on its own thread) past the first lease's expiry.
        wait_for(lambda: timezone.now() > first_lease + timedelta(seconds=1), what="the first lease to pass")
        assert services.requeue_expired_leases() == 0  # nothing to take back: the lease was renewed
        return Analysis(result={"renewed_until": str(fresh(job).lease_expires_at)})

    make_worker(analyzer=long_job).run_once()

    job = fresh(job)
    assert (job.status, job.attempts) == ("done", 1)


@pytest.mark.django_db(transaction=True)
# The main thread then never writes progress itself: only the heartbeat can find out.
@override_settings(VIDEO_JOBS_LEASE_SECONDS=2, VIDEO_JOBS_PROGRESS_INTERVAL=3600)
def test_the_heartbeat_notices_a_lost_lease_and_the_job_is_dropped(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(b"x" * 1000)

    def stolen(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
        Job.objects.filter(pk=job.pk).update(worker_id="thief")

        def interrupted() -> bool:
            try:
                progress(0.5)  # within the progress interval: no write of its own, only the flag
            except JobInterrupted:
                return True
            return False

        wait_for(interrupted, what="the heartbeat to notice")
        raise AssertionError("unreachable")

    make_worker(analyzer=stolen).run_once()

    job = fresh(job)
    assert (job.status, job.worker_id, job.result) == ("processing", "thief", None)


@pytest.mark.django_db(transaction=True)
@override_settings(VIDEO_JOBS_SHUTDOWN_GRACE=0.2)
def test_a_stop_whose_grace_runs_out_hands_the_job_back_without_counting_the_attempt(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(b"x" * 1000)
    worker = make_worker()

    def stopped(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
        worker.request_stop()
        wait_for(lambda: fresh(job).status == "queued", what="the hand-back")
        with pytest.raises(JobInterrupted, match="grace"):
            progress(0.7)
        raise AssertionError("unreachable")

    worker.analyzer = stopped
    worker.run_once()

    job = fresh(job)
    assert (job.status, job.attempts, job.worker_id, job.lease_expires_at) == ("queued", 0, "", None)
    assert job.run_after <= timezone.now()
    assert worker.run_once() is False  # a stopping worker claims nothing more


# --- on its own: the attempt it watches and the lease length are all it needs ------------------------------


@pytest.fixture
def watched(queue_job: QueueJob) -> Iterator[tuple[Heartbeat, Attempt]]:
    """A claimed job's attempt, and a heartbeat for two-second leases (stopped after the test)."""
    queue_job(b"x" * 1000)
    job = services.claim_next_job(worker_id="on-its-own", lease_seconds=2)
    assert job is not None
    attempt = Attempt(job, analyzer=noop_analyzer, sandbox=None, lease_seconds=2, progress_interval=3600)
    heartbeat = Heartbeat(lease_seconds=2)
    yield heartbeat, attempt
    heartbeat.close()


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_renews_the_lease_of_the_attempt_it_watches_with_the_progress_held_back(
    watched: tuple[Heartbeat, Attempt],
) -> None:
    heartbeat, attempt = watched
    first_lease = fresh(attempt.job).lease_expires_at
    assert first_lease is not None

    with heartbeat.watching(attempt):
        attempt.report(VideoAnalysisJob.Stage.ANALYZING, 0.5)  # within the progress interval: held back
        assert attempt.pending

        def renewed() -> bool:
            # The thread clears ``pending`` just after its UPDATE commits: wait for both, not just the row.
            lease = fresh(attempt.job).lease_expires_at
            return lease is not None and lease > first_lease and not attempt.pending

        wait_for(renewed, what="a renewal")

    row = fresh(attempt.job)
    assert (row.stage, row.progress) == ("analyzing", 60)  # rode along with the renewal
    assert not attempt.pending


@pytest.mark.django_db(transaction=True)
def test_at_the_attempts_stop_deadline_the_heartbeat_hands_the_job_back(
    watched: tuple[Heartbeat, Attempt],
) -> None:
    heartbeat, attempt = watched

    with heartbeat.watching(attempt):
        attempt.stop_deadline = time.monotonic()
        heartbeat.wake()
        # Not by polling the row: on SQLite a read from this thread can lock the table under the
        # heartbeat's write. The thread hands the job back right after interrupting the attempt, and
        # close() joins it.
        wait_for(lambda: attempt.interrupted, what="the interruption")
        heartbeat.close()

    assert attempt.interrupted == "shutdown grace period over"
    job = fresh(attempt.job)
    assert (job.attempts, job.worker_id, job.lease_expires_at) == (0, "", None)
