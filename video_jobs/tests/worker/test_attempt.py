"""One attempt at a job, driven in-process: download, analyse, store, settle; and the permanent failures,
each failed at once with its code. (Retries: test_retries.py; fences: test_fences.py.)"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from video_jobs.analysis import JobInfo, ProgressCallback, noop_analyzer
from video_jobs.error_codes import NEXT_STEP, ErrorCode
from video_jobs.s3 import storage

from ..support.client_safe import assert_client_safe
from ..support.worker_support import MakeWorker, QueueJob, Recorder, fresh

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

    def halfway(path: Path, job: JobInfo, progress: ProgressCallback) -> None:
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

    def explode_second(path: Path, job: JobInfo, progress: ProgressCallback) -> None:
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
    assert job.error_message == f"The video is no longer in storage. {NEXT_STEP[ErrorCode.UPLOAD_MISSING]}"
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
    assert job.error_message == (
        f"The video was replaced after it was verified. {NEXT_STEP[ErrorCode.UPLOAD_CHANGED]}"
    )
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
    assert job.error_message == (
        f"The file is not in a video container format. {NEXT_STEP[ErrorCode.INVALID_VIDEO]}"
    )
    # FFmpeg's own words name the temporary file: staff read them, the client does not.
    assert "Invalid data" in job.error_detail
    assert "cricksy-" in job.error_detail
    assert_client_safe(job, worker_id="test-worker-1")
    assert job.result is None
