"""The one clock: times that processes compare come from the database server's clock, never from the clock
of the process that writes or compares them. Proved in-process on every database (this process's clock
moved with time-machine), and with real worker processes whose clocks run ten minutes fast or slow."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from video_jobs import services
from video_jobs.clock import DatabaseNow, database_now
from video_jobs.models import VideoAnalysisJob

from .support.jobs import make_job
from .support.waiting import wait_for
from .support.worker_processes import FAST_RECOVERY, QueueJob, Workers, fresh, hold_a_job

Job = VideoAnalysisJob
Status = VideoAnalysisJob.Status
TEN_MINUTES = 600
SKEWS = pytest.mark.parametrize("skew", [TEN_MINUTES, -TEN_MINUTES], ids=["fast", "slow"])


@pytest.fixture
def clock_off_by(request: pytest.FixtureRequest) -> Iterator[float]:
    """This process's clock, moved by ``skew`` seconds for the test (the database's stays where it is)."""
    skew = float(request.getfixturevalue("skew"))
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=skew), tick=True):
        yield skew


def seconds_from_database_now(moment: datetime | None) -> float:
    assert moment is not None
    return (moment - database_now()).total_seconds()


# --- in-process, on any database ---------------------------------------------------------------------------


@pytest.mark.django_db
@SKEWS
def test_database_now_is_the_servers_time_however_far_off_this_process_is(
    skew: float, clock_off_by: float
) -> None:
    assert abs((timezone.now() - database_now()).total_seconds() - skew) < 5


@pytest.mark.django_db
@SKEWS
def test_a_process_whose_clock_is_off_writes_leases_and_deadlines_by_the_database_clock(
    skew: float, clock_off_by: float, user: Any, s3: Any
) -> None:
    job, _ = services.initiate_upload(owner=user, filename="a.mp4", content_type="video/mp4", size_bytes=3)
    assert abs(seconds_from_database_now(job.created_at)) < 5
    assert abs(seconds_from_database_now(job.upload_deadline) - 86400) < 5

    s3.put_object(Bucket=job.s3_bucket, Key=job.s3_key, Body=b"abc")
    assert services.complete_upload(job=job).changed
    assert abs(seconds_from_database_now(job.queued_at)) < 5
    assert abs(seconds_from_database_now(job.run_after)) < 5

    claimed = services.claim_next_job(worker_id="w1", lease_seconds=60)  # claimable by the database's clock
    assert claimed is not None
    assert abs(seconds_from_database_now(claimed.lease_expires_at) - 60) < 5
    assert services.renew_lease(job=claimed, lease_seconds=120)
    assert abs(seconds_from_database_now(claimed.lease_expires_at) - 120) < 5
    assert abs(seconds_from_database_now(fresh(claimed).lease_expires_at) - 120) < 5

    assert services.retry_job(job=claimed, message="S3 answered 503")
    backoff = seconds_from_database_now(fresh(claimed).run_after)
    assert 0 < backoff < 10  # VIDEO_JOBS_RETRY_BACKOFF_BASE 5 s, with jitter


@pytest.mark.django_db
@SKEWS
def test_a_process_whose_clock_is_off_sweeps_only_leases_expired_by_the_database_clock(
    skew: float, clock_off_by: float, user: Any
) -> None:
    def processing(lease_in: float) -> VideoAnalysisJob:
        return make_job(
            user,
            Status.PROCESSING,
            stage=VideoAnalysisJob.Stage.DOWNLOADING,
            worker_id="elsewhere",
            attempts=1,
            lease_expires_at=DatabaseNow(timedelta(seconds=lease_in)),
        )

    healthy, expired = processing(lease_in=30), processing(lease_in=-1)

    assert list(Job.objects.lease_expired()) == [expired]
    assert services.requeue_expired_leases() == 1

    assert (fresh(healthy).status, fresh(healthy).worker_id) == (Status.PROCESSING, "elsewhere")
    assert (fresh(expired).status, fresh(expired).worker_id) == (Status.QUEUED, "")


@pytest.mark.django_db
@SKEWS
def test_stuck_uploads_and_deadlines_are_judged_by_the_database_clock(
    skew: float, clock_off_by: float, user: Any
) -> None:
    def awaiting(age_minutes: float) -> VideoAnalysisJob:
        past = DatabaseNow(-timedelta(minutes=age_minutes))
        return make_job(user, created_at=past, upload_deadline=past)

    awaiting(age_minutes=1)
    old = awaiting(age_minutes=30)
    new, _ = services.initiate_upload(owner=user, filename="a.mp4", content_type="video/mp4", size_bytes=3)

    assert list(Job.objects.stuck_uploads(older_than=timedelta(minutes=5))) == [old]
    assert new not in Job.objects.upload_deadline_passed()
    assert Job.objects.upload_deadline_passed().count() == 2


# --- real worker processes whose clocks run ten minutes fast or slow (PostgreSQL) ----------------------


@pytest.mark.postgres
@SKEWS
def test_a_worker_whose_clock_is_off_neither_takes_a_healthy_lease_nor_keeps_an_expired_one(
    workers: Workers, queue_job: QueueJob, skew: int
) -> None:
    # A healthy job: its worker renews a 2 s lease every 2/3 s.
    healthy, holder = hold_a_job(workers, queue_job, "--worker-id", "holder", **FAST_RECOVERY)
    # An abandoned one: its worker died and its lease ended a second ago.
    abandoned = queue_job(b"abandoned")
    Job.objects.filter(pk=abandoned.pk).update(
        status=Status.PROCESSING,
        stage=VideoAnalysisJob.Stage.DOWNLOADING,
        worker_id="gone",
        attempts=1,
        lease_expires_at=DatabaseNow(-timedelta(seconds=1)),
    )

    # One sweep (a --burst worker sweeps first, finds nothing claimable, and exits), by a skewed clock. A long
    # backoff keeps it from claiming the job it takes back.
    sweeper = workers.start(
        "--burst", "--worker-id", "skewed", clock_offset=str(skew), VIDEO_JOBS_RETRY_BACKOFF_BASE="60"
    )
    assert sweeper.wait(timeout=60) == 0

    healthy = fresh(healthy)
    assert (healthy.status, healthy.worker_id, healthy.attempts) == (Status.PROCESSING, "holder", 1)
    abandoned = fresh(abandoned)
    assert (abandoned.status, abandoned.worker_id, abandoned.attempts) == (Status.QUEUED, "", 1)
    assert "lease of worker gone expired" in abandoned.error_detail

    workers.release()
    assert holder.poll() is None
    holder.send_signal(signal.SIGTERM)
    assert holder.wait(timeout=30) == 0
    assert (fresh(healthy).status, fresh(healthy).attempts) == (Status.DONE, 1)


@pytest.mark.postgres
@SKEWS
def test_a_worker_whose_clock_is_off_holds_its_lease_by_the_database_clock_and_loses_it_when_it_dies(
    workers: Workers, queue_job: QueueJob, skew: int
) -> None:
    job, holder = hold_a_job(
        workers, queue_job, "--worker-id", "skewed", clock_offset=str(skew), **FAST_RECOVERY
    )

    # Its lease (2 s), and each renewal, ends after the database's now: not ten minutes off either way.
    claimed = fresh(job).lease_expires_at
    assert 0 < seconds_from_database_now(claimed) <= 2
    renewed = wait_for(lambda: (lease := fresh(job).lease_expires_at) != claimed and lease, what="a renewal")
    assert 0 < seconds_from_database_now(renewed) <= 2
    # So a worker with a true clock leaves it alone while it lives...
    sweeper = workers.start("--burst", "--worker-id", "sweeper", **FAST_RECOVERY)
    assert sweeper.wait(timeout=60) == 0
    assert (fresh(job).status, fresh(job).worker_id) == (Status.PROCESSING, "skewed")

    # ...and takes it over within seconds of its death, not ten minutes later.
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    heir = workers.start("--worker-id", "heir", "--max-jobs", "1", **FAST_RECOVERY)
    assert heir.wait(timeout=60) == 0
    job = fresh(job)
    assert (job.status, job.attempts, job.worker_id) == (Status.DONE, 2, "heir")


def test_a_time_read_from_the_clock_is_not_later_than_the_clock_in_the_same_millisecond(user: Any) -> None:
    # SQLite compares times as text: the clock's and Python's must have one layout, or a time just read
    # from the database's clock and written back compares later than "now" for the rest of its millisecond.
    job = make_job(user, VideoAnalysisJob.Status.QUEUED)
    for _ in range(200):
        VideoAnalysisJob.objects.filter(pk=job.pk).update(run_after=database_now())
        assert VideoAnalysisJob.objects.claimable().filter(pk=job.pk).exists()
