"""One attempt at a job, driven in-process: download, analyse, store, settle; every error code, retries
and fences."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import override_settings
from django.utils import timezone

from video_jobs import services
from video_jobs.analysis import Analysis, Artifact, JobInterrupted, ProgressCallback, noop_analyzer
from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage

from ..support.client_safe import assert_client_safe
from ..support.s3_proxy import FaultyS3Proxy
from ..support.worker_support import Job, MakeWorker, QueueJob, Recorder, fresh, make_claimable

pytestmark = pytest.mark.django_db

NOT_A_VIDEO = b"these bytes are no video at all " * 64


# --- the happy path ---------------------------------------------------------------------------------------


def test_a_real_video_is_analysed_to_done_with_its_poster_stored_beside_it(
    make_worker: MakeWorker, queue_job: QueueJob, sample_video: bytes, s3: Any
) -> None:
    job = queue_job(sample_video, sha256=hashlib.sha256(sample_video).hexdigest())

    # In a child process, as under run_worker.
    assert make_worker(isolated=True).run_once() is True

    job = fresh(job)
    assert (job.status, job.stage, job.progress, job.attempts) == ("done", "done", 100, 1)
    assert (job.error_code, job.lease_expires_at) == ("", None)
    assert job.finished_at is not None
    result = job.result
    assert result["video"] == {
        "container": "mov,mp4,m4a,3gp,3g2,mj2",
        "codec": "h264",
        "duration_seconds": 10.0,
        "width": 160,
        "height": 90,
        "fps": 10.0,
        "frames": 100,
    }
    [segment] = result["motion"]["segments"]
    assert segment["start_seconds"] == pytest.approx(3.0, abs=0.5)
    assert segment["end_seconds"] == pytest.approx(5.0, abs=0.5)
    assert result["source"] == {
        "size_bytes": len(sample_video),
        "sha256": hashlib.sha256(sample_video).hexdigest(),
        "etag": job.object_etag,
    }
    poster = result["artifacts"]["poster.jpg"]
    assert poster["key"] == f"videos/{job.pk}/poster.jpg" == storage.artifact_key(job.pk, "poster.jpg")
    stored = s3.get_object(Bucket=job.s3_bucket, Key=poster["key"])
    assert stored["ContentType"] == "image/jpeg"
    jpeg = stored["Body"].read()
    assert jpeg[:2] == b"\xff\xd8"
    assert len(jpeg) == poster["size_bytes"]


@override_settings(VIDEO_JOBS_PROGRESS_INTERVAL=0)
def test_stage_and_progress_move_through_the_stages_as_the_job_runs(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(b"x" * 5000)
    seen: list[tuple[str, int]] = []

    def halfway(path: Path, job: VideoAnalysisJob, progress: ProgressCallback) -> None:
        progress(0.5)
        row = fresh(job)
        seen.append((row.stage, row.progress))

    recorder = Recorder(then=halfway)
    make_worker(analyzer=recorder).run_once()

    assert recorder.calls[0]["stage"] == "analyzing"
    assert seen == [("analyzing", 60)]
    assert (fresh(job).stage, fresh(job).progress) == ("done", 100)


def test_the_temporary_download_is_removed_whether_the_job_succeeds_or_fails(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    queue_job(b"a" * 3000)
    queue_job(b"b" * 3000)

    def explode_second(path: Path, job: VideoAnalysisJob, progress: ProgressCallback) -> None:
        if len(recorder.calls) == 2:
            raise RuntimeError("analyzer bug")

    recorder = Recorder(then=explode_second)
    worker = make_worker(analyzer=recorder)
    worker.run_once()
    worker.run_once()

    assert [call["exists"] for call in recorder.calls] == [True, True]
    assert not any(call["path"].exists() for call in recorder.calls)


def test_an_analyzer_that_needs_no_video_is_run_without_a_download(
    make_worker: MakeWorker, queue_job: QueueJob, s3: Any
) -> None:
    job = queue_job(b"never downloaded")
    # Were the worker to download, this would fail the job as upload_missing.
    s3.delete_object(Bucket=job.s3_bucket, Key=job.s3_key)

    assert make_worker(analyzer=noop_analyzer).run_once()

    done = fresh(job)
    assert (done.status, done.progress) == ("done", 100)
    assert done.result == {"analyzer": "noop", "artifacts": {}}


# --- permanent failures: failed at once, with their code --------------------------------------------------


def test_an_object_deleted_after_verification_fails_as_upload_missing(
    make_worker: MakeWorker, queue_job: QueueJob, s3: Any
) -> None:
    job = queue_job(b"x" * 1000)
    s3.delete_object(Bucket=job.s3_bucket, Key=job.s3_key)
    recorder = Recorder()

    make_worker(analyzer=recorder).run_once()

    job = fresh(job)
    assert (job.status, job.error_code, job.attempts) == ("failed", "upload_missing", 1)
    assert job.error_message == "The video is no longer in storage."
    assert f"{job.s3_bucket}/{job.s3_key}" in job.error_detail
    assert_client_safe(job, worker_id="test-worker-1")
    assert recorder.calls == []


def test_an_object_replaced_after_verification_fails_as_upload_changed(
    make_worker: MakeWorker, queue_job: QueueJob, s3: Any
) -> None:
    job = queue_job(b"x" * 1000)
    # Same size, other bytes: only the ETag recorded at verification can tell.
    s3.put_object(Bucket=job.s3_bucket, Key=job.s3_key, Body=b"y" * 1000)
    recorder = Recorder()

    make_worker(analyzer=recorder).run_once()

    job = fresh(job)
    assert (job.status, job.error_code) == ("failed", "upload_changed")
    assert job.error_message == "The video was replaced after it was verified."
    assert_client_safe(job, worker_id="test-worker-1")
    assert recorder.calls == []


def test_bytes_that_differ_from_the_declared_sha256_fail_as_upload_checksum_mismatch(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(b"x" * 1000, sha256=hashlib.sha256(b"what the client meant to send").hexdigest())
    recorder = Recorder()

    make_worker(analyzer=recorder).run_once()

    job = fresh(job)
    assert (job.status, job.error_code) == ("failed", "upload_checksum_mismatch")
    assert hashlib.sha256(b"x" * 1000).hexdigest() in job.error_message
    assert_client_safe(job, worker_id="test-worker-1")
    assert recorder.calls == []


def test_a_file_that_is_not_a_video_fails_as_invalid_video(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(NOT_A_VIDEO)

    make_worker(isolated=True).run_once()

    job = fresh(job)
    assert (job.status, job.stage, job.error_code, job.attempts) == ("failed", "failed", "invalid_video", 1)
    assert job.error_message == "The file is not in a video container format."
    # FFmpeg's own words name the temporary file: staff read them, the client does not.
    assert "Invalid data" in job.error_detail
    assert "cricksy-" in job.error_detail
    assert_client_safe(job, worker_id="test-worker-1")
    assert job.result is None


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
    s3_proxy.truncate_next("GET")  # botocore does not retry a body read; the worker must

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

    def bug(path: Path, job: VideoAnalysisJob, progress: ProgressCallback) -> None:
        raise ZeroDivisionError(f"attempt {job.attempts}")

    worker = make_worker(analyzer=Recorder(then=bug))
    with caplog.at_level(logging.ERROR, logger="video_jobs.worker"):
        while worker.run_once():
            pass

    job = fresh(job)
    assert (job.status, job.error_code, job.attempts) == ("failed", "attempts_exhausted", 3)
    assert job.error_message == "An unexpected error interrupted the analysis."
    assert job.error_detail == "ZeroDivisionError: attempt 3"
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 3
    assert all(record.exc_info for record in errors)
    assert all(str(job.pk) in record.getMessage() for record in errors)


def test_an_analyzer_that_returns_something_else_is_a_bug_not_a_crash(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(b"x" * 1000)

    def sloppy(path: Path, *, job: VideoAnalysisJob, progress: ProgressCallback) -> Any:
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

    def verbose(path: Path, *, job: VideoAnalysisJob, progress: ProgressCallback) -> Analysis:
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


# --- fences: a worker that lost the job writes nothing ----------------------------------------------------


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_owners_result(
    make_worker: MakeWorker, queue_job: QueueJob, s3: Any
) -> None:
    job = queue_job(b"x" * 1000)
    slow = make_worker(worker_id="slow")
    fast = make_worker(
        worker_id="fast", analyzer=lambda path, *, job, progress: Analysis(result={"by": "fast"})
    )

    def meanwhile(path: Path, *, job: VideoAnalysisJob, progress: ProgressCallback) -> Analysis:
        # While "slow" is stuck in its analysis, its lease expires, a sweep takes the job back and "fast"
        # processes it to done.
        Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        assert services.requeue_expired_leases() == 1
        make_claimable(job)
        assert fast.run_once() is True
        return Analysis(
            result={"by": "slow"}, artifacts=(Artifact("poster.jpg", b"slow poster", "image/jpeg"),)
        )

    slow.analyzer = meanwhile
    slow.run_once()

    job = fresh(job)
    assert (job.status, job.worker_id, job.attempts, job.result["by"]) == ("done", "fast", 2, "fast")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=job.s3_bucket, Key=storage.artifact_key(job.pk, "poster.jpg"))


@override_settings(VIDEO_JOBS_PROGRESS_INTERVAL=0)
def test_a_worker_whose_fence_fails_stops_the_job_and_writes_nothing(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(b"x" * 1000)
    interrupted: list[str] = []

    def stolen(path: Path, *, job: VideoAnalysisJob, progress: ProgressCallback) -> Analysis:
        Job.objects.filter(pk=job.pk).update(worker_id="thief")
        try:
            progress(0.9)
        except JobInterrupted as exc:
            interrupted.append(str(exc))
            raise
        raise AssertionError("the progress callback should have stopped the job")

    make_worker(analyzer=stolen).run_once()

    assert interrupted == ["lease lost to another worker"]
    job = fresh(job)
    assert (job.status, job.worker_id, job.stage, job.result, job.error_message) == (
        "processing",
        "thief",
        "analyzing",  # written before the theft; the 90% report after it was refused
        None,
        "",
    )


# --- database disconnects ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_dropped_database_connection_before_the_finish_is_reconnected_not_failed(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(b"x" * 1000)

    def drop_connection(path: Path, *, job: VideoAnalysisJob, progress: ProgressCallback) -> Analysis:
        # What a database restart does to the worker's connection.
        with connection.cursor() as cursor, pytest.raises(OperationalError):
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return Analysis(result={"survived": True})

    make_worker(analyzer=drop_connection).run_once()

    job = fresh(job)
    assert (job.status, job.attempts, job.result["survived"]) == ("done", 1, True)
