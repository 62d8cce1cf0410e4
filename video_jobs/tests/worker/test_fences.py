"""Fences: a worker that lost its job writes nothing (no result, no artifact, no progress), and a dropped
database connection is reconnected rather than failing the job."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import override_settings
from django.utils import timezone

from video_jobs import services
from video_jobs.analysis import Analysis, Artifact, JobInfo, JobInterrupted, ProgressCallback
from video_jobs.s3 import storage

from ..support.worker_support import Job, MakeWorker, QueueJob, fresh, make_claimable

pytestmark = pytest.mark.django_db


# --- fences: a worker that lost the job writes nothing ----------------------------------------------------


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_owners_result(
    make_worker: MakeWorker, queue_job: QueueJob, s3: Any
) -> None:
    job = queue_job(b"x" * 1000)
    slow = make_worker(worker_id="slow")
    fast = make_worker(
        worker_id="fast", analyzer=lambda path, *, job, progress: Analysis(result={"by": "fast"})
    )

    def meanwhile(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
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

    def stolen(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
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

    def drop_connection(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
        # What a database restart does to the worker's connection.
        with connection.cursor() as cursor, pytest.raises(OperationalError):
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return Analysis(result={"survived": True})

    make_worker(analyzer=drop_connection).run_once()

    job = fresh(job)
    assert (job.status, job.attempts, job.result["survived"]) == ("done", 1, True)
