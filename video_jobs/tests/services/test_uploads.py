"""Upload transitions: none to queued without a HeadObject of the job's own key."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from video_jobs import services
from video_jobs.clock import DatabaseNow
from video_jobs.models import ErrorCode, MetricCounter, VideoAnalysisJob
from video_jobs.services import Outcome

from ..support.client_safe import assert_client_safe
from ..support.jobs import VIDEO, make_job
from ..support.s3_config import s3_down

pytestmark = pytest.mark.django_db


Status = VideoAnalysisJob.Status

# --- initiate ----------------------------------------------------------------------------------------------


def test_new_jobs_are_never_created_queued(user: Any) -> None:
    job, _ = services.initiate_upload(
        owner=user, filename="clip.mp4", content_type="video/mp4", size_bytes=len(VIDEO)
    )
    assert job.status == Status.AWAITING_UPLOAD
    assert job.upload_deadline > job.created_at
    assert not VideoAnalysisJob.objects.claimable().exists()


def test_the_model_default_status_is_awaiting_upload() -> None:
    assert VideoAnalysisJob().status == Status.AWAITING_UPLOAD


# --- verification ------------------------------------------------------------------------------------------


def test_complete_upload_reports_that_it_moved_the_job(user: Any, put_video: Any, heads: list[str]) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    first = services.complete_upload(job=job)
    second = services.complete_upload(job=job)
    assert (first.outcome, first.changed) == (Outcome.QUEUED, True)
    assert (second.outcome, second.changed) == (Outcome.NOT_ELIGIBLE, False)
    assert heads == [job.s3_key]


def test_once_s3_answers_the_first_write_queues_the_job(user: Any, put_video: Any) -> None:
    # queued_at is stamped when S3 answers; any write before the job's own UPDATE (a metric, say) would
    # sit between that stamp and the moment a worker can see the job.
    job = make_job(user)
    put_video(job, VIDEO)
    with CaptureQueriesContext(connection) as queries:
        assert services.complete_upload(job=job).changed
    writes = [query["sql"] for query in queries if query["sql"].startswith(("UPDATE", "INSERT"))]
    assert writes[0].startswith(f'UPDATE "{VideoAnalysisJob._meta.db_table}"')
    assert any(MetricCounter._meta.db_table in write for write in writes[1:])  # counted, afterwards


def test_reverify_queues_a_stuck_upload_whose_object_is_there(user: Any, put_video: Any) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    result = services.reverify_upload(job=job)
    assert (result.outcome, result.changed) == (Outcome.QUEUED, True)
    assert job.status == Status.QUEUED
    assert job.object_size == len(VIDEO)


def test_reverify_leaves_a_stuck_upload_without_object_as_it_was(user: Any) -> None:
    job = make_job(user)
    result = services.reverify_upload(job=job)
    assert result.outcome == Outcome.MISSING
    assert not result.changed
    assert "does not exist" in result.detail
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.AWAITING_UPLOAD, "")


def test_reverify_leaves_a_wrong_sized_upload_as_it_was(user: Any, put_video: Any) -> None:
    job = make_job(user)
    put_video(job, VIDEO + b"!")
    result = services.reverify_upload(job=job)
    assert result.outcome == Outcome.SIZE_MISMATCH
    assert job.status == Status.AWAITING_UPLOAD


def test_reverify_with_s3_down_changes_nothing(user: Any, put_video: Any) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    with s3_down():
        result = services.reverify_upload(job=job)
    assert result.outcome == Outcome.TRANSIENT
    assert job.status == Status.AWAITING_UPLOAD


def test_reverify_requeues_a_job_failed_for_a_missing_upload_once_it_arrives(
    user: Any, put_video: Any
) -> None:
    job = make_job(user, Status.FAILED, error_code=ErrorCode.UPLOAD_MISSING, attempts=2)
    put_video(job, VIDEO)
    result = services.reverify_upload(job=job)
    assert result.changed
    assert (job.status, job.error_code, job.attempts, job.finished_at) == (Status.QUEUED, "", 0, None)


@pytest.mark.parametrize(
    ("status", "error_code"),
    [
        (Status.QUEUED, ""),
        (Status.PROCESSING, ""),
        (Status.DONE, ""),
        (Status.CANCELLED, ""),
        (Status.FAILED, ErrorCode.INVALID_VIDEO),
        (Status.FAILED, ErrorCode.LOST),
    ],
)
def test_reverify_refuses_other_statuses_without_asking_s3(
    user: Any, heads: list[str], status: str, error_code: str
) -> None:
    job = make_job(user, status, error_code=error_code)
    result = services.reverify_upload(job=job)
    assert (result.outcome, result.changed) == (Outcome.NOT_ELIGIBLE, False)
    assert heads == []
    assert job.status == status


def test_retry_failed_requeues_a_processing_failure_after_verifying(
    user: Any, put_video: Any, heads: list[str]
) -> None:
    job = make_job(user, Status.FAILED, error_code=ErrorCode.ATTEMPTS_EXHAUSTED, attempts=3)
    put_video(job, VIDEO)
    result = services.retry_failed_job(job=job)
    assert result.changed
    assert (job.status, job.attempts, job.error_code) == (Status.QUEUED, 0, "")
    assert heads == [job.s3_key]


def test_retry_failed_keeps_the_job_failed_when_its_object_is_gone(user: Any) -> None:
    job = make_job(user, Status.FAILED, error_code=ErrorCode.INVALID_VIDEO)
    result = services.retry_failed_job(job=job)
    assert result.outcome == Outcome.MISSING
    assert (job.status, job.error_code) == (Status.FAILED, ErrorCode.INVALID_VIDEO)


def test_retry_failed_refuses_upload_failures(user: Any, put_video: Any) -> None:
    job = make_job(user, Status.FAILED, error_code=ErrorCode.UPLOAD_MISSING)
    put_video(job, VIDEO)
    assert services.retry_failed_job(job=job).outcome == Outcome.NOT_ELIGIBLE
    assert job.status == Status.FAILED


@pytest.mark.parametrize(
    ("reverify", "status", "error_code"),
    [
        (services.reverify_upload, Status.FAILED, ErrorCode.UPLOAD_SIZE_MISMATCH),
        (services.retry_failed_job, Status.FAILED, ErrorCode.INVALID_VIDEO),
    ],
)
def test_staff_recovery_refuses_a_job_whose_source_video_was_deleted(
    user: Any, put_video: Any, heads: list[str], reverify: Any, status: str, error_code: str
) -> None:
    deleted = timezone.now() - timedelta(days=1)
    job = make_job(user, status, error_code=error_code, source_deleted_at=deleted)
    put_video(job, VIDEO)  # even with an object under its key (one uploaded again, say)

    result = reverify(job=job)

    assert (result.outcome, result.changed) == (Outcome.NOT_ELIGIBLE, False)
    assert result.detail == f"its source video was deleted on {deleted:%Y-%m-%d} (retention)"
    assert heads == []
    assert job.status == status


# --- what clients are told ---------------------------------------------------------------------------------


def test_a_missing_upload_tells_the_client_what_to_do_and_staff_where_it_looked(user: Any) -> None:
    job = make_job(user)

    services.complete_upload(job=job)

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, ErrorCode.UPLOAD_MISSING)
    assert job.error_message.startswith("No video was found for this job")
    assert f"s3://{job.s3_bucket}/{job.s3_key}" in job.error_detail
    assert_client_safe(job)


def test_an_expired_upload_says_the_deadline_passed(user: Any) -> None:
    job = make_job(user, upload_deadline=timezone.now() - timedelta(minutes=1))

    services.reconcile_expired_uploads()

    job.refresh_from_db()
    assert (job.error_code, job.error_message) == (
        ErrorCode.UPLOAD_EXPIRED,
        "No video arrived before the upload deadline. Start a new upload and send the video before its "
        "deadline.",
    )
    assert job.s3_key in job.error_detail
    assert_client_safe(job)


def test_a_wrong_size_is_told_in_bytes(user: Any, put_video: Any) -> None:
    job = make_job(user)
    put_video(job, VIDEO + b"!")

    services.complete_upload(job=job)

    job.refresh_from_db()
    assert job.error_message == (
        f"The uploaded file is {len(VIDEO) + 1} bytes; {len(VIDEO)} were declared. Start a new upload that "
        "declares the file's exact size."
    )
    assert_client_safe(job)


def test_a_verified_upload_clears_the_last_error_and_its_detail(user: Any, put_video: Any) -> None:
    job = make_job(
        user, Status.FAILED, error_code=ErrorCode.UPLOAD_MISSING, error_message="m", error_detail="d"
    )
    put_video(job, VIDEO)
    services.reverify_upload(job=job)
    job.refresh_from_db()
    assert (job.status, job.error_message, job.error_detail) == (Status.QUEUED, "", "")


# --- each job's own bucket --------------------------------------------------------------------------------


def a_missing_bucket() -> str:
    return f"cricksy-no-such-bucket-{uuid.uuid4().hex[:12]}"


def test_a_job_is_verified_in_its_own_bucket_whatever_the_setting_says_later(
    user: Any, put_video: Any
) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    with override_settings(AWS_STORAGE_BUCKET_NAME=a_missing_bucket()):
        result = services.complete_upload(job=job)
    assert (result.outcome, job.status) == (Outcome.QUEUED, Status.QUEUED)


def test_a_service_pointed_at_a_bucket_that_does_not_exist_fails_no_job(
    user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bucket = a_missing_bucket()
    with override_settings(AWS_STORAGE_BUCKET_NAME=bucket):
        awaited = make_job(user)
        abandoned = make_job(user, upload_deadline=DatabaseNow(-timedelta(minutes=1)))
        failed = make_job(user, Status.FAILED, error_code=ErrorCode.INVALID_VIDEO)
        assert awaited.s3_bucket == bucket

        assert services.complete_upload(job=awaited).outcome == Outcome.TRANSIENT
        assert services.reverify_upload(job=awaited).outcome == Outcome.TRANSIENT
        assert services.retry_failed_job(job=failed).outcome == Outcome.TRANSIENT
        assert services.reconcile_expired_uploads() == {Outcome.TRANSIENT: 1}

    for job, status in ((awaited, Status.AWAITING_UPLOAD), (abandoned, Status.AWAITING_UPLOAD)):
        job.refresh_from_db()
        assert (job.status, job.error_code, job.error_message) == (status, "", "")
    failed.refresh_from_db()
    assert (failed.status, failed.error_code) == (Status.FAILED, ErrorCode.INVALID_VIDEO)
    # Loudly, for whoever runs the service: every call, with the bucket named.
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 4
    assert all(bucket in error for error in errors)


# --- cancel ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.AWAITING_UPLOAD, Status.QUEUED])
def test_cancel_moves_unstarted_jobs(user: Any, status: str) -> None:
    job = make_job(user, status)
    assert services.cancel_job(job=job)
    assert (job.status, job.stage) == (Status.CANCELLED, VideoAnalysisJob.Stage.CANCELLED)


@pytest.mark.parametrize("status", [Status.PROCESSING, Status.DONE, Status.FAILED, Status.CANCELLED])
def test_cancel_refuses_started_or_ended_jobs(user: Any, status: str) -> None:
    job = make_job(user, status)
    assert not services.cancel_job(job=job)
    assert job.status == status


def test_reconciler_settles_expired_uploads_by_asking_s3(user: Any, put_video: Any, heads: list[str]) -> None:
    past = timezone.now() - timedelta(minutes=1)
    present = make_job(user, upload_deadline=past)
    absent = make_job(user, upload_deadline=past)
    fresh = make_job(user)
    put_video(present, VIDEO)

    with s3_down():
        # The first transient answer ends the sweep: with S3 down, each further HeadObject would only wait
        # out another timeout.
        assert services.reconcile_expired_uploads() == {Outcome.TRANSIENT: 1}
    assert len(heads) == 1
    assert VideoAnalysisJob.objects.filter(status=Status.AWAITING_UPLOAD).count() == 3

    assert services.reconcile_expired_uploads() == {Outcome.QUEUED: 1, Outcome.MISSING: 1}
    for job in (present, absent, fresh):
        job.refresh_from_db()
    assert present.status == Status.QUEUED
    assert (absent.status, absent.error_code) == (Status.FAILED, ErrorCode.UPLOAD_EXPIRED)
    assert fresh.status == Status.AWAITING_UPLOAD


def test_reconciler_skips_a_job_deleted_after_it_listed_it(
    user: Any, put_video: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    past = timezone.now() - timedelta(minutes=1)
    gone, present = (
        make_job(user, upload_deadline=past),
        make_job(user, upload_deadline=past + timedelta(seconds=1)),
    )
    put_video(present, VIDEO)
    real = services.uploads._settle_expired_upload

    def settle(job: VideoAnalysisJob) -> services.VerifyResult:
        if job.pk == gone.pk:
            VideoAnalysisJob.objects.filter(pk=gone.pk).delete()  # its owner's DELETE, meanwhile
        return real(job)

    monkeypatch.setattr(services.uploads, "_settle_expired_upload", settle)

    assert services.reconcile_expired_uploads() == {Outcome.QUEUED: 1}
    present.refresh_from_db()
    assert present.status == Status.QUEUED
