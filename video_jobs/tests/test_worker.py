"""The worker, driven step by step in-process: claims, results, every error code, retries, leases, sweeps."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from video_jobs import metrics, services, storage
from video_jobs.analysis import Analysis, Artifact, JobInterrupted, ProgressCallback, noop_analyzer
from video_jobs.models import MetricCounter, VideoAnalysisJob
from video_jobs.worker import JobContextFilter, Worker, remove_orphaned_downloads

from .conftest import wait_for
from .s3_proxy import FaultyS3Proxy

pytestmark = pytest.mark.django_db

Job = VideoAnalysisJob
QueueJob = Callable[..., VideoAnalysisJob]
MakeWorker = Callable[..., Worker]
NOT_A_VIDEO = b"these bytes are no video at all " * 64


class Recorder:
    """An analyzer that records each call and what the job looked like in the database meanwhile."""

    def __init__(
        self,
        then: Callable[[Path, VideoAnalysisJob, ProgressCallback], Any] | None = None,
        artifacts: tuple[Artifact, ...] = (),
    ) -> None:
        self.calls: list[dict[str, Any]] = []
        self.then = then
        self.artifacts = artifacts

    def __call__(self, path: Path, *, job: VideoAnalysisJob, progress: ProgressCallback) -> Analysis:
        row = Job.objects.get(pk=job.pk)
        self.calls.append(
            {
                "job": job.pk,
                "path": path,
                "exists": path.exists(),
                "stage": row.stage,
                "attempt": job.attempts,
            }
        )
        if self.then is not None:
            self.then(path, job, progress)
        return Analysis(result={"bytes": path.stat().st_size}, artifacts=self.artifacts)


def fresh(job: VideoAnalysisJob) -> VideoAnalysisJob:
    return Job.objects.get(pk=job.pk)


def make_claimable(job: VideoAnalysisJob) -> None:
    """Time passes: the retry's backoff is over."""
    Job.objects.filter(pk=job.pk).update(run_after=timezone.now())


# --- the happy path ----------------------------------------------------------------------------------------


def test_run_once_reports_no_work_when_nothing_is_queued(make_worker: MakeWorker) -> None:
    assert make_worker(analyzer=Recorder()).run_once() is False


def test_a_real_video_is_analysed_to_done_with_its_poster_stored_beside_it(
    make_worker: MakeWorker, queue_job: QueueJob, sample_video: bytes, s3: Any
) -> None:
    job = queue_job(sample_video, sha256=hashlib.sha256(sample_video).hexdigest())

    assert make_worker().run_once() is True

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


def test_jobs_are_claimed_oldest_first(make_worker: MakeWorker, queue_job: QueueJob) -> None:
    first, second, third = (queue_job(b"video %d" % n) for n in range(3))
    recorder = Recorder()
    worker = make_worker(analyzer=recorder)

    while worker.run_once():
        pass

    assert [call["job"] for call in recorder.calls] == [first.pk, second.pk, third.pk]


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


def test_a_fast_job_costs_two_updates_its_claim_and_its_finish(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(b"x" * 5000)

    def chatty(path: Path, job: VideoAnalysisJob, progress: ProgressCallback) -> None:
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
    updates = [sql for sql in statements if sql.lstrip().startswith("UPDATE")]
    assert len(updates) == 2, statements
    assert fresh(job).status == "done"
    if connection.vendor == "postgresql":
        assert len(statements) == 3  # claim (UPDATE ... RETURNING), the recorder's SELECT, finish


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


def test_downloads_left_by_dead_workers_are_removed_and_no_others(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid now names no process
    orphan = tmp_path / f"cricksy-{dead.pid}-job-abc.video"
    orphan.write_bytes(b"x" * 1234)
    kept = [
        tmp_path / f"cricksy-{os.getpid()}-job-abc.video",  # a live worker's download
        tmp_path / f"cricksy-{dead.pid}-job-abc.part",  # not a download
        tmp_path / "cricksy-notapid-job.video",
        tmp_path / f"other-{dead.pid}-job.video",
    ]
    for path in kept:
        path.write_bytes(b"y")

    assert remove_orphaned_downloads(str(tmp_path)) == 1234
    assert sorted(tmp_path.iterdir()) == sorted(kept)


# --- permanent failures: failed at once, with their code


def test_an_object_deleted_after_verification_fails_as_upload_missing(
    make_worker: MakeWorker, queue_job: QueueJob, s3: Any
) -> None:
    job = queue_job(b"x" * 1000)
    s3.delete_object(Bucket=job.s3_bucket, Key=job.s3_key)
    recorder = Recorder()

    make_worker(analyzer=recorder).run_once()

    job = fresh(job)
    assert (job.status, job.error_code, job.attempts) == ("failed", "upload_missing", 1)
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
    assert recorder.calls == []


def test_a_file_that_is_not_a_video_fails_as_invalid_video(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(NOT_A_VIDEO)

    make_worker().run_once()

    job = fresh(job)
    assert (job.status, job.stage, job.error_code, job.attempts) == ("failed", "failed", "invalid_video", 1)
    assert "Invalid data" in job.error_message
    assert job.result is None


# --- transient failures: retried with backoff, then succeeding or exhausted


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
    assert "503" in job.error_message
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
    assert "unreachable" in job.error_message

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
    assert job.error_message == "ZeroDivisionError: attempt 3"
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
    assert "TypeError" in job.error_message


# --- leases


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


@pytest.mark.django_db(transaction=True)
@override_settings(VIDEO_JOBS_LEASE_SECONDS=2)
def test_the_heartbeat_renews_the_lease_of_a_job_that_outlives_it(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    job = queue_job(b"x" * 1000)

    def long_job(path: Path, *, job: VideoAnalysisJob, progress: ProgressCallback) -> Analysis:
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

    def stolen(path: Path, *, job: VideoAnalysisJob, progress: ProgressCallback) -> Analysis:
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

    def stopped(path: Path, *, job: VideoAnalysisJob, progress: ProgressCallback) -> Analysis:
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


# --- the loop


@pytest.mark.django_db(transaction=True)
def test_burst_drains_the_queue_and_returns_zero(make_worker: MakeWorker, queue_job: QueueJob) -> None:
    jobs = [queue_job(b"video %d" % n) for n in range(4)]

    assert make_worker(analyzer=Recorder(), burst=True).run() == 0

    assert {fresh(job).status for job in jobs} == {"done"}


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


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_writes_its_metric_observations_in_batches(
    make_worker: MakeWorker, queue_job: QueueJob
) -> None:
    jobs = [queue_job(b"video %d" % n) for n in range(3)]
    claims = MetricCounter.objects.filter(name__startswith=metrics.CLAIM_LATENCY.name)
    seen_while_running: list[int] = []

    def look(path: Path, job: VideoAnalysisJob, progress: ProgressCallback) -> None:
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
    if connection.vendor == "postgresql":
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


def test_log_records_carry_the_worker_and_the_job_they_are_about(
    make_worker: MakeWorker, queue_job: QueueJob, caplog: pytest.LogCaptureFixture
) -> None:
    job = queue_job(b"x" * 1000)
    caplog.handler.addFilter(JobContextFilter("w-logs"))
    caplog.clear()
    third_party = logging.getLogger("some.library")

    def chat(path: Path, job: VideoAnalysisJob, progress: ProgressCallback) -> None:
        third_party.warning("decoder says hello")

    with caplog.at_level(logging.INFO):
        make_worker(analyzer=Recorder(then=chat)).run_once()
        logging.getLogger("video_jobs").info("between jobs")

    stamped = {record.getMessage(): (record.worker_id, record.job_id) for record in caplog.records}
    assert stamped["decoder says hello"] == ("w-logs", str(job.pk))
    assert stamped["between jobs"] == ("w-logs", "-")
    worker_lines = [record for record in caplog.records if record.name == "video_jobs.worker"]
    assert worker_lines
    assert all(str(job.pk) in record.getMessage() for record in worker_lines)


# --- recovery sweeps


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


# --- database disconnects ----------------------------------------------------------------------------------


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
