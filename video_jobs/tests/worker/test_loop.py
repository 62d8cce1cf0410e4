"""The worker's loop, driven in-process: one pass at a time (run_once), claims, the run loop and its
stops, claiming ahead, metrics batches, and the recovery sweeps."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from video_jobs import services
from video_jobs.analysis import JobInfo, ProgressCallback
from video_jobs.db import is_postgresql
from video_jobs.models import MetricCounter, VideoAnalysisJob
from video_jobs.ops import metrics
from video_jobs.s3 import storage
from video_jobs.worker import loop as worker_loop

from ..support.s3_proxy import FaultyS3Proxy
from ..support.worker_support import Job, MakeWorker, QueueJob, Recorder, fresh

pytestmark = pytest.mark.django_db


# --- one pass ---------------------------------------------------------------------------------------------


def test_run_once_reports_no_work_when_nothing_is_queued(make_worker: MakeWorker) -> None:
    assert make_worker(analyzer=Recorder()).run_once() is False


def test_jobs_are_claimed_oldest_first(make_worker: MakeWorker, queue_job: QueueJob) -> None:
    first, second, third = (queue_job(b"video %d" % n) for n in range(3))
    recorder = Recorder()
    worker = make_worker(analyzer=recorder)

    while worker.run_once():
        pass

    assert [call["job"] for call in recorder.calls] == [first.pk, second.pk, third.pk]


def test_a_fast_job_costs_two_updates_its_claim_and_its_finish(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(b"x" * 5000)

    def chatty(path: Path, job: JobInfo, progress: ProgressCallback) -> None:
        for step in range(100):
            progress(step / 100)

    worker = make_worker(analyzer=Recorder(then=chatty))
    worker.sweep()  # not due again during the test
    with CaptureQueriesContext(connection) as queries:
        worker.run_once()

    # Recorder's own SELECT aside, progress reports within VIDEO_JOBS_PROGRESS_INTERVAL are coalesced.
    statements = [
        query["sql"] for query in queries.captured_queries if "video_jobs_videoanalysisjob" in query["sql"]
    ]
    # On PostgreSQL the finish is one statement with its webhook deliveries (WITH finished AS (UPDATE ...)).
    updates = [sql for sql in statements if sql.lstrip().startswith(("UPDATE", "WITH finished"))]
    assert len(updates) == 2, statements
    assert fresh(job).status == "done"
    if is_postgresql():
        # The claim (UPDATE ... RETURNING), the recorder's SELECT, and the finish, whose one statement also
        # writes its webhook deliveries and returns the times it took from the database's clock.
        assert len(statements) == 3, "\n---\n".join(statements)


# --- the run loop -----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # run() recycles connections, as between requests
def test_a_stop_within_the_grace_period_lets_the_job_finish_and_claims_no_more(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    first, second = queue_job(b"first"), queue_job(b"second")
    worker = make_worker()
    worker.analyzer = Recorder(then=lambda path, job, progress: worker.request_stop())

    assert worker.run() == 0

    assert fresh(first).status == "done"
    assert fresh(second).status == "queued"


@pytest.mark.django_db(transaction=True)
def test_burst_drains_the_queue_and_returns_zero(make_worker: MakeWorker, queue_job: QueueJob) -> None:
    jobs = [queue_job(b"video %d" % n) for n in range(4)]

    assert make_worker(analyzer=Recorder(), burst=True).run() == 0

    assert {fresh(job).status for job in jobs} == {"done"}


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_writes_its_metric_observations_in_batches(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    jobs = [queue_job(b"video %d" % n) for n in range(3)]
    claims = MetricCounter.objects.filter(name__startswith=metrics.CLAIM_LATENCY.name)
    seen_while_running: list[int] = []

    def look(path: Path, job: JobInfo, progress: ProgressCallback) -> None:
        seen_while_running.append(claims.count())

    assert make_worker(analyzer=Recorder(then=look), burst=True).run() == 0

    # The first pass flushes before it claims; after that, observations wait in memory, not one
    # transaction per claim and per finish; the stop writes them all.
    assert seen_while_running == [0, 0, 0]
    observed = {row.labels: row.value for row in claims.exclude(name__endswith="_sum")}
    assert sum(observed.values()) == len(jobs)
    durations = MetricCounter.objects.filter(name=metrics.JOB_DURATION.name)
    assert sum(row.value for row in durations) == len(jobs)


@pytest.mark.django_db(transaction=True)
def test_a_busy_worker_finishes_each_job_and_claims_the_next_in_one_statement(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    jobs = [queue_job(b"video %d" % n) for n in range(4)]
    recorder = Recorder()
    worker = make_worker(analyzer=recorder, burst=True)
    worker.sweep()  # not due again during the test

    with CaptureQueriesContext(connection) as queries:
        assert worker.run() == 0

    assert {fresh(job).status for job in jobs} == {"done"}
    assert {fresh(job).attempts for job in jobs} == {1}
    assert sorted(call["job"] for call in recorder.calls) == sorted(job.pk for job in jobs)
    updates = [
        query["sql"]
        for query in queries.captured_queries
        if "video_jobs_videoanalysisjob" in query["sql"] and "UPDATE" in query["sql"]
    ]
    if is_postgresql():
        # One claim, then one finish-and-claim-next per job, and the claim that finds the queue empty.
        assert len(updates) == 1 + len(jobs) + 1, updates
        assert sum("WITH finished AS" in sql for sql in updates) == len(jobs)
    else:
        # SQLite: a claim and a finish per job (an empty queue's claim is a SELECT that finds nothing).
        assert len(updates) == 2 * len(jobs), updates


@pytest.mark.django_db(transaction=True)
def test_a_job_claimed_ahead_is_handed_back_when_the_worker_stops_first(
    make_worker: MakeWorker, queue_job: QueueJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = queue_job(b"first"), queue_job(b"second")
    worker = make_worker(analyzer=Recorder())
    real = services.finish_job_and_claim_next

    def finish_then_stop(**kwargs: Any) -> Any:
        outcome = real(**kwargs)
        worker.request_stop()  # a SIGTERM right after the claim-ahead
        return outcome

    monkeypatch.setattr(services, "finish_job_and_claim_next", finish_then_stop)
    assert worker.run() == 0

    assert fresh(first).status == "done"
    # Claimed with the first one's finish, never started: back in the queue, the attempt not counted.
    assert (fresh(second).status, fresh(second).attempts, fresh(second).worker_id) == ("queued", 0, "")


@pytest.mark.django_db(transaction=True)
def test_max_jobs_stops_after_that_many(make_worker: MakeWorker, queue_job: QueueJob) -> None:
    jobs = [queue_job(b"video %d" % n) for n in range(3)]

    assert make_worker(analyzer=Recorder(), max_jobs=2).run() == 0

    assert [fresh(job).status for job in jobs] == ["done", "done", "queued"]


# --- recovery sweeps --------------------------------------------------------------------------------------


def expire_lease(job: VideoAnalysisJob, *, attempts: int) -> None:
    Job.objects.filter(pk=job.pk).update(
        status="processing",
        stage="analyzing",
        worker_id="crashed",
        attempts=attempts,
        lease_expires_at=timezone.now() - timedelta(1),
    )


def test_the_sweep_requeues_an_expired_lease_with_backoff_and_fails_it_as_lost_at_max_attempts(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    retried, lost = queue_job(b"retried"), queue_job(b"lost")
    expire_lease(retried, attempts=1)
    expire_lease(lost, attempts=3)

    make_worker(analyzer=Recorder()).sweep()

    retried, lost = fresh(retried), fresh(lost)
    assert (retried.status, retried.attempts, retried.worker_id) == ("queued", 1, "")
    assert retried.run_after > timezone.now()
    assert (lost.status, lost.error_code, lost.attempts) == ("failed", "lost", 3)


def abandoned_upload(api_user: Any, *, size: int = 1000) -> VideoAnalysisJob:
    job, _ = services.initiate_upload(
        owner=api_user, filename="late.mp4", content_type="video/mp4", size_bytes=size
    )
    Job.objects.filter(pk=job.pk).update(upload_deadline=timezone.now() - timedelta(seconds=1))
    return fresh(job)


def test_the_sweep_queues_an_abandoned_upload_whose_object_is_there(
    make_worker: MakeWorker, user: Any, put_video: Any
) -> None:
    job = abandoned_upload(user)
    put_video(job, b"x" * 1000)

    make_worker(analyzer=Recorder()).sweep()

    job = fresh(job)
    assert (job.status, job.object_size) == ("queued", 1000)
    assert job.object_etag


def test_the_sweep_fails_an_abandoned_upload_whose_object_never_came_as_upload_expired(
    make_worker: MakeWorker, user: Any
) -> None:
    job = abandoned_upload(user)

    make_worker(analyzer=Recorder()).sweep()

    job = fresh(job)
    assert (job.status, job.error_code) == ("failed", "upload_expired")


def test_the_sweep_aborts_orphaned_multipart_uploads_about_once_an_hour(
    make_worker: MakeWorker, s3: Any
) -> None:
    # moto dates every multipart upload 2010-11-10: it is more than a day old.
    key = storage.video_key("job-that-never-was")
    upload_id = s3.create_multipart_upload(Bucket=storage.bucket_name(), Key=key)["UploadId"]

    def in_progress() -> bool:
        listed = s3.list_multipart_uploads(Bucket=storage.bucket_name(), Prefix=key).get("Uploads", [])
        return upload_id in [upload["UploadId"] for upload in listed]

    worker = make_worker(analyzer=Recorder())
    assert worker._next_orphan_sweep <= time.monotonic() + worker_loop.ORPHAN_SWEEP_INTERVAL
    worker._next_orphan_sweep = time.monotonic() + 60
    worker.sweep()
    assert in_progress()  # not due yet

    worker._next_orphan_sweep = 0.0
    worker.sweep()
    assert not in_progress()
    assert worker._next_orphan_sweep > time.monotonic() + worker_loop.ORPHAN_SWEEP_INTERVAL - 60


def test_the_sweep_leaves_abandoned_uploads_alone_while_s3_cannot_answer(
    make_worker: MakeWorker, user: Any, put_video: Any, s3_proxy: FaultyS3Proxy
) -> None:
    first, second = abandoned_upload(user), abandoned_upload(user)
    put_video(first, b"x" * 1000)

    with s3_proxy.failing("HEAD", status=503):
        make_worker(analyzer=Recorder()).sweep()

    assert (fresh(first).status, fresh(second).status) == ("awaiting_upload", "awaiting_upload")
    # It stopped at the first transient answer instead of waiting on S3 once per job.
    heads = {path for method, path in s3_proxy.requests if method == "HEAD"}
    assert len(heads) == 1

    make_worker(analyzer=Recorder()).sweep()  # S3 is back
    assert (fresh(first).status, fresh(second).status) == ("queued", "failed")


@override_settings(VIDEO_JOBS_RETAIN_SOURCE_DAYS=30)
def test_the_sweep_deletes_source_videos_past_their_retention_and_keeps_the_artifacts(
    make_worker: MakeWorker, queue_job: QueueJob, s3: Any
) -> None:
    old, recent = queue_job(b"old video"), queue_job(b"recent video")
    for job, days in ((old, 31), (recent, 29)):
        Job.objects.filter(pk=job.pk).update(
            status="done", stage="done", finished_at=timezone.now() - timedelta(days=days)
        )
        s3.put_object(Bucket=job.s3_bucket, Key=storage.artifact_key(job.pk, "poster.jpg"), Body=b"jpeg")

    make_worker(analyzer=Recorder()).sweep()

    def stored(job: VideoAnalysisJob) -> list[str]:
        listed = s3.list_objects_v2(Bucket=job.s3_bucket, Prefix=storage.job_folder(job.pk))
        return sorted(item["Key"].rsplit("/", 1)[1] for item in listed.get("Contents", []))

    assert stored(old) == ["poster.jpg"]
    assert fresh(old).source_deleted_at is not None
    assert stored(recent) == ["poster.jpg", "source"]
    assert fresh(recent).source_deleted_at is None
