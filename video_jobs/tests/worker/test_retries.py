"""Transient failures of an attempt (S3 errors, an unreachable S3, a download cut short, an analyzer bug):
retried with backoff, then succeeding or failing as attempts_exhausted; a job whose bucket is gone waits
without spending its attempts, and each job is processed in its own bucket."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from video_jobs.analysis import Analysis, Artifact, JobInfo, ProgressCallback
from video_jobs.error_codes import NEXT_STEP, ErrorCode
from video_jobs.s3 import storage

from ..support.client_safe import assert_client_safe
from ..support.s3_proxy import FaultyS3Proxy
from ..support.worker_support import Job, MakeWorker, QueueJob, Recorder, fresh, make_claimable

pytestmark = pytest.mark.django_db


# --- transient failures: retried with backoff, then succeeding or exhausted -------------------------------


def test_s3_server_errors_are_retried_with_backoff_and_then_succeed(
    make_worker: MakeWorker, queue_job: QueueJob, s3_proxy: FaultyS3Proxy
) -> None:
    job = queue_job(b"x" * 1000)
    worker = make_worker(analyzer=Recorder())

    with s3_proxy.failing("GET", status=503):
        before = timezone.now()
        worker.run_once()

    job = fresh(job)
    assert (job.status, job.attempts, job.error_code) == ("queued", 1, "")
    assert job.error_message == "Storage was temporarily unavailable."
    assert "503" in job.error_detail
    assert_client_safe(job, worker_id="test-worker-1")
    # VIDEO_JOBS_RETRY_BACKOFF_BASE is 5 s: the first retry waits 2.5-5 s ("equal jitter").
    assert before + timedelta(seconds=2.4) <= job.run_after <= timezone.now() + timedelta(seconds=5)
    assert worker.run_once() is False  # not claimable before its backoff is over

    make_claimable(job)
    worker.run_once()
    job = fresh(job)
    assert (job.status, job.attempts) == ("done", 2)


def test_an_unreachable_s3_is_transient_too(make_worker: MakeWorker, queue_job: QueueJob) -> None:
    job = queue_job(b"x" * 1000)
    worker = make_worker(analyzer=Recorder())

    with override_settings(AWS_S3_ENDPOINT_URL="http://127.0.0.1:9"):  # nothing listens on the discard port
        worker.run_once()
    job = fresh(job)
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.error_message == "Storage was temporarily unavailable."
    # botocore's message names the endpoint: for staff only.
    assert "unreachable" in job.error_detail
    assert "127.0.0.1:9" in job.error_detail
    assert_client_safe(job, worker_id="test-worker-1")

    make_claimable(job)
    worker.run_once()
    assert fresh(job).status == "done"


def test_a_download_cut_short_is_retried(
    make_worker: MakeWorker, queue_job: QueueJob, s3_proxy: FaultyS3Proxy
) -> None:
    job = queue_job(b"x" * 100_000)
    worker = make_worker(analyzer=Recorder())
    # botocore does not retry a body read; the worker must. Only the video's GET: the worker's housekeeping
    # lists the bucket (a GET too) before it claims.
    s3_proxy.truncate_next("GET", path_contains=f"{job.pk}/source")

    worker.run_once()

    job = fresh(job)
    assert (job.status, job.attempts, job.error_code) == ("queued", 1, "")
    make_claimable(job)
    worker.run_once()
    assert fresh(job).status == "done"


@override_settings(VIDEO_JOBS_RETRY_BACKOFF_BASE=0)
def test_an_analyzer_bug_is_retried_then_fails_as_attempts_exhausted_with_the_last_error(
    make_worker: MakeWorker, queue_job: QueueJob, caplog: pytest.LogCaptureFixture
) -> None:
    job = queue_job(b"x" * 1000)

    def bug(path: Path, job: JobInfo, progress: ProgressCallback) -> None:
        raise ZeroDivisionError(f"attempt {job.attempts}")

    worker = make_worker(analyzer=Recorder(then=bug))
    with caplog.at_level(logging.ERROR, logger="video_jobs.worker"):
        while worker.run_once():
            pass

    job = fresh(job)
    assert (job.status, job.error_code, job.attempts) == ("failed", "attempts_exhausted", 3)
    assert job.error_message == (
        f"An unexpected error interrupted the analysis. {NEXT_STEP[ErrorCode.ATTEMPTS_EXHAUSTED]}"
    )
    assert job.error_detail == "ZeroDivisionError: attempt 3"
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 3
    assert all(record.exc_info for record in errors)
    assert all(str(job.pk) in record.getMessage() for record in errors)


def test_an_analyzer_that_returns_something_else_is_a_bug_not_a_crash(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(b"x" * 1000)

    def sloppy(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Any:
        return {"not": "an Analysis"}

    make_worker(analyzer=sloppy).run_once()

    job = fresh(job)
    assert job.status == "queued"
    assert job.error_message == "An unexpected error interrupted the analysis."
    assert "TypeError" in job.error_detail


def test_a_result_over_64_kib_is_a_bug_and_nothing_is_stored(
    make_worker: MakeWorker, queue_job: QueueJob, s3: Any
) -> None:
    job = queue_job(b"x" * 1000)

    def verbose(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
        return Analysis(
            result={"timeline": [0.5] * 20_000}, artifacts=(Artifact("poster.jpg", b"poster", "image/jpeg"),)
        )

    make_worker(analyzer=verbose).run_once()

    job = fresh(job)
    assert (job.status, job.result) == ("queued", None)
    assert job.error_message == "An unexpected error interrupted the analysis."
    assert "ResultTooLarge: the result is " in job.error_detail
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=job.s3_bucket, Key=storage.artifact_key(job.pk, "poster.jpg"))


# --- each job's own bucket -------------------------------------------------------------------------------


def test_a_job_is_processed_in_its_own_bucket_whatever_the_setting_says_later(
    make_worker: MakeWorker, queue_job: QueueJob, s3: Any
) -> None:
    job = queue_job(b"x" * 1000)
    poster = Artifact("poster.jpg", b"a poster", "image/jpeg")
    worker = make_worker(analyzer=Recorder(artifacts=(poster,)))

    with override_settings(AWS_STORAGE_BUCKET_NAME=f"cricksy-elsewhere-{job.pk.hex[:8]}"):
        worker.run_once()

    assert fresh(job).status == "done"
    stored = s3.get_object(Bucket=job.s3_bucket, Key=storage.artifact_key(job.pk, "poster.jpg"))
    assert stored["Body"].read() == b"a poster"


@override_settings(VIDEO_JOBS_RETRY_BACKOFF_MAX=120)
def test_a_job_whose_bucket_is_gone_waits_without_spending_its_attempts(
    make_worker: MakeWorker, queue_job: QueueJob, caplog: pytest.LogCaptureFixture
) -> None:
    # A configuration fault (a bucket deleted or misnamed, access revoked) is no fault of the job's: it must
    # neither fail the job as upload_missing nor use up its attempts while someone fixes the settings.
    job = queue_job(b"x" * 1000)
    missing = f"cricksy-no-such-bucket-{job.pk.hex[:8]}"
    Job.objects.filter(pk=job.pk).update(s3_bucket=missing)
    recorder = Recorder()
    worker = make_worker(analyzer=recorder)

    before = timezone.now()
    worker.run_once()

    job = fresh(job)
    assert (job.status, job.attempts, job.error_code) == ("queued", 0, "")
    assert "NoSuchBucket" in job.error_detail  # for staff; the client hears it is temporary
    assert job.error_message == "Storage was temporarily unavailable."
    assert_client_safe(job, worker_id="test-worker-1")
    # It waits out the longest backoff (equal jitter: at least half of it) before anyone tries again.
    assert job.run_after >= before + timedelta(seconds=60)
    assert worker.run_once() is False
    for _ in range(2):
        make_claimable(job)
        worker.run_once()
    assert (fresh(job).status, fresh(job).attempts) == ("queued", 0)
    assert recorder.calls == []
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 3
    assert all(missing in error for error in errors)
