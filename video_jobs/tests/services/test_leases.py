"""The lease protocol: claims, the fence, retries, hand-back and the expired-lease sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from video_jobs import services
from video_jobs.error_codes import NEXT_STEP, ErrorCode
from video_jobs.models import VideoAnalysisJob

from ..support.jobs import make_job, processing

pytestmark = pytest.mark.django_db


Status = VideoAnalysisJob.Status

# --- claim, lease fence, retries ---------------------------------------------------------------------------


def test_claim_takes_the_oldest_claimable_job_and_starts_an_attempt(user: Any) -> None:
    now = timezone.now()
    older = make_job(user, Status.QUEUED, run_after=now - timedelta(minutes=2))
    newer = make_job(user, Status.QUEUED, run_after=now - timedelta(minutes=1))
    make_job(user, Status.QUEUED, run_after=now + timedelta(minutes=5))  # backing off
    make_job(user)  # awaiting upload: never claimable

    first = services.claim_next_job(worker_id="w1", lease_seconds=30)
    second = services.claim_next_job(worker_id="w2", lease_seconds=30)
    third = services.claim_next_job(worker_id="w3", lease_seconds=30)

    assert first is not None
    assert second is not None
    assert (first.pk, second.pk, third) == (older.pk, newer.pk, None)
    assert (first.status, first.worker_id, first.attempts) == (Status.PROCESSING, "w1", 1)
    assert first.lease_expires_at is not None
    assert first.lease_expires_at > timezone.now()
    assert first.started_at is not None


def test_a_worker_that_lost_its_lease_cannot_write(user: Any) -> None:
    job = processing(user, worker="old", attempts=1)
    stale = VideoAnalysisJob.objects.get(pk=job.pk)
    # The lease expired and another worker took the job over.
    VideoAnalysisJob.objects.filter(pk=job.pk).update(worker_id="new", attempts=2)
    current = VideoAnalysisJob.objects.get(pk=job.pk)
    assert services.finish_job(job=current, result={"by": "new"})

    assert not services.renew_lease(job=stale)
    assert not services.report_progress(job=stale, stage="analyzing", progress=50)
    assert not services.finish_job(job=stale, result={"by": "old"})
    assert not services.fail_job(job=stale, code=ErrorCode.INVALID_VIDEO, message="late")
    assert not services.retry_job(job=stale, message="late")
    assert not services.release_job(job=stale)
    job.refresh_from_db()
    assert (job.status, job.result, job.progress) == (Status.DONE, {"by": "new"}, 100)


def test_renew_lease_extends_it(user: Any) -> None:
    job = processing(user, lease_in=1)
    before = job.lease_expires_at
    assert services.renew_lease(job=job, lease_seconds=120)
    job.refresh_from_db()
    assert before is not None
    assert job.lease_expires_at is not None
    assert job.lease_expires_at > before + timedelta(seconds=100)


def test_retry_job_backs_off_until_attempts_run_out(user: Any) -> None:
    job = processing(user, attempts=1)
    assert services.retry_job(job=job, message="Storage was unavailable.", detail="S3 answered 503")
    assert job.status == Status.QUEUED
    assert job.run_after > timezone.now()
    assert (job.error_message, job.error_detail) == ("Storage was unavailable.", "S3 answered 503")

    last = processing(user, attempts=3)
    assert services.retry_job(job=last, message="Storage was unavailable again.")
    assert (last.status, last.error_code) == (Status.FAILED, ErrorCode.ATTEMPTS_EXHAUSTED)
    # Without a detail of its own, staff see the message; the client also reads what to do now.
    assert (last.error_message, last.error_detail) == (
        f"Storage was unavailable again. {NEXT_STEP[ErrorCode.ATTEMPTS_EXHAUSTED]}",
        "Storage was unavailable again.",
    )


def test_release_job_hands_it_back_without_counting_the_attempt(user: Any) -> None:
    job = processing(user, attempts=2)
    assert services.release_job(job=job)
    assert (job.status, job.attempts, job.worker_id, job.lease_expires_at) == (Status.QUEUED, 1, "", None)
    assert job.run_after <= timezone.now()


# --- recovery sweeps ---------------------------------------------------------------------------------------


def test_expired_leases_are_requeued_then_lost(user: Any) -> None:
    retry = processing(user, attempts=1, lease_in=-5)
    lost = processing(user, attempts=3, lease_in=-5)
    alive = processing(user, attempts=1, lease_in=60)

    assert services.requeue_expired_leases() == 2

    for job in (retry, lost, alive):
        job.refresh_from_db()
    assert (retry.status, retry.attempts, retry.worker_id) == (Status.QUEUED, 1, "")
    assert (lost.status, lost.error_code) == (Status.FAILED, ErrorCode.LOST)
    assert alive.status == Status.PROCESSING


def test_an_expired_lease_tells_the_client_processing_stopped_and_staff_which_worker(user: Any) -> None:
    requeued = processing(user, worker="gpu-box-7:4242", attempts=1, lease_in=-5)
    lost = processing(user, worker="gpu-box-7:4242", attempts=3, lease_in=-5)

    services.requeue_expired_leases()

    for job in (requeued, lost):
        job.refresh_from_db()
        assert job.error_message.startswith("Processing was interrupted: the worker stopped responding")
        assert "gpu-box-7:4242" not in job.error_message
        assert "lease of worker gpu-box-7:4242 expired" in job.error_detail
    assert lost.error_code == ErrorCode.LOST


def test_requeue_stale_skips_a_job_whose_worker_renewed_meanwhile(user: Any) -> None:
    job = processing(user, lease_in=-5)
    seen_expired = VideoAnalysisJob.objects.get(pk=job.pk)
    services.renew_lease(job=job)
    assert not services.requeue_stale_job(job=seen_expired)
    assert seen_expired.status == Status.PROCESSING
