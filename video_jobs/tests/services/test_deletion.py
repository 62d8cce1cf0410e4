"""Deleting a job with everything S3 holds for it, and the retention sweep that deletes old source videos:
objects first, the row last, and nothing queued again once its video is going."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone

from video_jobs import services
from video_jobs.clock import database_now
from video_jobs.models import ErrorCode, VideoAnalysisJob
from video_jobs.s3 import storage
from video_jobs.services import Deletion, Outcome

from ..support.jobs import VIDEO, make_job, processing
from ..support.s3_config import s3_down

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


def keys(s3: Any, job: VideoAnalysisJob) -> list[str]:
    listed = s3.list_objects_v2(Bucket=job.s3_bucket, Prefix=storage.job_folder(job.pk))
    return sorted(item["Key"] for item in listed.get("Contents", []))


def store(s3: Any, job: VideoAnalysisJob, *names: str) -> None:
    """Objects under the job's folder: ``source`` is its video, anything else an artifact."""
    for name in names:
        s3.put_object(Bucket=job.s3_bucket, Key=storage.artifact_key(job.pk, name), Body=VIDEO)


def ended(owner: Any, status: str = Status.DONE, *, days_ago: float, **fields: Any) -> VideoAnalysisJob:
    return make_job(owner, status, finished_at=timezone.now() - timedelta(days=days_ago), **fields)


# --- deleting a job ----------------------------------------------------------------------------------------


def test_a_deleted_job_leaves_nothing_in_s3_and_no_row(s3: Any, user: Any) -> None:
    job = ended(user, days_ago=1, result={"artifacts": {"poster.jpg": {}}})
    neighbour = ended(user, days_ago=1)
    # The video, its artifact, and one nobody recorded (stored by an attempt that lost its lease).
    store(s3, job, "source", "poster.jpg", "poster-from-a-lost-attempt.jpg")
    store(s3, neighbour, "source", "poster.jpg")

    assert services.delete_job(job=job) == Deletion.DELETED

    assert keys(s3, job) == []
    assert not VideoAnalysisJob.objects.filter(pk=job.pk).exists()
    assert len(keys(s3, neighbour)) == 2


@pytest.mark.parametrize("status", [Status.AWAITING_UPLOAD, Status.QUEUED])
def test_a_job_not_started_is_cancelled_then_deleted_with_what_was_uploaded(
    user: Any, s3: Any, status: str
) -> None:
    job = make_job(user, status)
    store(s3, job, "source")

    assert services.delete_job(job=job) == Deletion.DELETED

    assert keys(s3, job) == []
    assert not VideoAnalysisJob.objects.filter(pk=job.pk).exists()


def test_a_processing_job_is_refused_and_keeps_everything(s3: Any, user: Any) -> None:
    job = processing(user)
    store(s3, job, "source")

    assert services.delete_job(job=job) == Deletion.PROCESSING

    job.refresh_from_db()
    assert (job.status, job.source_deleted_at) == (Status.PROCESSING, None)
    assert keys(s3, job) == [job.s3_key]


def test_a_queued_job_a_worker_claims_first_is_refused(user: Any, s3: Any) -> None:
    job = make_job(user, Status.QUEUED)
    store(s3, job, "source")
    seen_queued = VideoAnalysisJob.objects.get(pk=job.pk)
    assert services.claim_next_job(worker_id="w1") is not None

    assert services.delete_job(job=seen_queued) == Deletion.PROCESSING

    assert seen_queued.status == Status.PROCESSING  # the caller sees the job as it is now
    assert keys(s3, job) == [job.s3_key]


def test_with_s3_down_the_job_stays_and_can_be_deleted_later(s3: Any, user: Any) -> None:
    job = ended(user, Status.FAILED, days_ago=1, error_code=ErrorCode.INVALID_VIDEO)
    store(s3, job, "source")

    with s3_down():
        assert services.delete_job(job=job) == Deletion.STORAGE_UNAVAILABLE

    job.refresh_from_db()
    assert keys(s3, job) == [job.s3_key]
    # Marked on the way: staff cannot queue a job whose deletion is under way.
    assert job.source_deleted_at is not None
    assert services.retry_failed_job(job=job).outcome == Outcome.NOT_ELIGIBLE

    assert services.delete_job(job=job) == Deletion.DELETED
    assert keys(s3, job) == []


# --- retention of source videos ----------------------------------------------------------------------------


@override_settings(VIDEO_JOBS_RETAIN_SOURCE_DAYS=30)
def test_retention_deletes_only_the_source_of_jobs_that_ended_long_enough_ago(s3: Any, user: Any) -> None:
    result = {"artifacts": {"poster.jpg": {"key": "…"}}}
    old = [
        ended(user, Status.DONE, days_ago=31, result=result),
        ended(user, Status.FAILED, days_ago=45, error_code=ErrorCode.INVALID_VIDEO),
        ended(user, Status.CANCELLED, days_ago=31),
    ]
    recent = ended(user, Status.DONE, days_ago=29, result=result)
    running = processing(user)
    for job in [*old, recent, running]:
        store(s3, job, "source", "poster.jpg")
    before = database_now()  # the clock that writes source_deleted_at (SQLite: to the millisecond)

    assert services.expire_source_videos() == 3

    for job in old:
        job.refresh_from_db()
        assert keys(s3, job) == [storage.artifact_key(job.pk, "poster.jpg")]
        assert job.source_deleted_at is not None
        assert job.source_deleted_at >= before
    assert old[0].result == result  # the analysis stays
    for job in (recent, running):
        job.refresh_from_db()
        assert job.source_deleted_at is None
        assert len(keys(s3, job)) == 2
    assert services.expire_source_videos() == 0  # done once


@override_settings(VIDEO_JOBS_RETAIN_SOURCE_DAYS=30)
@pytest.mark.parametrize("skew", [timedelta(days=40), timedelta(days=-40)])
def test_retention_ages_jobs_by_the_databases_clock_not_the_workers(
    s3: Any, user: Any, skew: timedelta
) -> None:
    young, old = ended(user, days_ago=1), ended(user, days_ago=31)
    for job in (young, old):
        store(s3, job, "source")

    # A worker whose clock runs 40 days fast would delete a day-old video; one 40 days slow, none at all.
    with time_machine.travel(timezone.now() + skew):
        assert services.expire_source_videos() == 1

    young.refresh_from_db()
    old.refresh_from_db()
    assert young.source_deleted_at is None
    assert old.source_deleted_at is not None
    assert abs(old.source_deleted_at - timezone.now()) < timedelta(minutes=1)


@override_settings(VIDEO_JOBS_RETAIN_SOURCE_DAYS=0)
def test_zero_days_keeps_source_videos_forever(s3: Any, user: Any) -> None:
    job = ended(user, days_ago=3650)
    store(s3, job, "source")
    assert services.expire_source_videos() == 0
    assert keys(s3, job) == [job.s3_key]


@override_settings(VIDEO_JOBS_RETAIN_SOURCE_DAYS=30)
def test_with_s3_down_retention_takes_its_mark_back_and_stops(
    s3: Any, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [ended(user, days_ago=40) for _ in range(3)]
    for job in jobs:
        store(s3, job, "source")
    calls: list[str] = []
    real = storage.delete_object

    def counting(*, bucket: str, key: str) -> None:
        calls.append(key)
        real(bucket=bucket, key=key)

    monkeypatch.setattr(storage, "delete_object", counting)

    with s3_down():
        assert services.expire_source_videos() == 0

    assert len(calls) == 1  # the first failure ends the sweep
    for job in jobs:
        job.refresh_from_db()
        assert job.source_deleted_at is None
        assert keys(s3, job) == [job.s3_key]
    assert services.expire_source_videos() == 3


@override_settings(VIDEO_JOBS_RETAIN_SOURCE_DAYS=30)
def test_after_retention_staff_can_neither_retry_nor_reverify_the_job(s3: Any, user: Any) -> None:
    failed = ended(user, Status.FAILED, days_ago=31, error_code=ErrorCode.ATTEMPTS_EXHAUSTED)
    too_big = ended(user, Status.FAILED, days_ago=31, error_code=ErrorCode.UPLOAD_SIZE_MISMATCH)
    for job in (failed, too_big):
        store(s3, job, "source")
    services.expire_source_videos()

    retried = services.retry_failed_job(job=failed)
    reverified = services.reverify_upload(job=too_big)

    for result in (retried, reverified):
        assert (result.outcome, result.changed) == (Outcome.NOT_ELIGIBLE, False)
        assert result.detail.startswith("its source video was deleted on ")
        assert result.job.status == Status.FAILED
