"""``manage.py run_worker`` as real processes against PostgreSQL and moto's S3 server: exactly-once claims
across processes, SIGKILL recovery, graceful and immediate stops, NOTIFY wake-up, reconnection, the
supervisor, and a ten-minute video processed in bounded memory."""

from __future__ import annotations

import os
import re
import signal
import statistics
import time
from collections import Counter
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Max, Min
from django.test import override_settings

from video_jobs import services
from video_jobs.clock import DatabaseNow
from video_jobs.devtools.synthetic_video import write_test_video

from ..support.waiting import wait_for
from ..support.worker_processes import (
    FAST_RECOVERY,
    HOLD,
    Job,
    QueueJob,
    Workers,
    backends,
    children_of,
    fresh,
    hold_a_job,
    peak_rss_bytes,
    reached,
    running,
)

pytestmark = pytest.mark.postgres


def listening_workers() -> list[int]:
    return backends("video_jobs listen %")


# --- exactly once ----------------------------------------------------------------------------------------


@override_settings(VIDEO_JOBS_MAX_ACTIVE_JOBS=300)  # upload-complete checks the active-jobs quota too
def test_four_worker_processes_drain_three_hundred_jobs_each_exactly_once(
    workers: Workers, queue_job: QueueJob
) -> None:
    jobs = [queue_job(b"clip %04d" % n) for n in range(300)]

    started = time.monotonic()
    supervisor = workers.start("--concurrency", "4", "--burst")
    assert supervisor.wait(timeout=180) == 0
    elapsed = time.monotonic() - started

    calls = workers.calls()
    per_job = Counter(job_id for job_id, *_ in calls)
    assert per_job.keys() == {str(job.pk) for job in jobs}  # none left behind
    assert set(per_job.values()) == {1}  # none analysed twice
    assert Counter(Job.objects.values_list("status", flat=True)) == {"done": 300}
    analysed_by = {job_id: worker_id for job_id, worker_id, *_ in calls}
    for job in Job.objects.all():
        assert job.attempts == 1
        assert job.result["analysed_by"] == analysed_by[str(job.pk)] == job.worker_id
    assert len(set(analysed_by.values())) > 1, "the processes did not work concurrently"
    span = Job.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
    busy = (span["last"] - span["first"]).total_seconds()
    print(f"300 jobs drained by 4 processes in {elapsed:.2f}s with start-up, {300 / busy:.0f} jobs/s running")


# --- crash and signals -----------------------------------------------------------------------------------


def test_a_worker_killed_mid_job_is_replaced_once_its_lease_expires(
    workers: Workers, queue_job: QueueJob
) -> None:
    job, doomed = hold_a_job(workers, queue_job, "--worker-id", "doomed", **FAST_RECOVERY)

    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    assert (fresh(job).status, fresh(job).worker_id) == ("processing", "doomed")  # nothing written at death
    assert [path.name.split("-")[1] for path in workers.tmp.iterdir()] == [str(doomed.pid)]  # its download

    workers.release()
    heir = workers.start("--worker-id", "heir", "--max-jobs", "1", analyzer=HOLD, **FAST_RECOVERY)
    assert heir.wait(timeout=60) == 0

    job = fresh(job)
    assert (job.status, job.attempts, job.worker_id, job.result["analysed_by"]) == ("done", 2, "heir", "heir")
    assert list(workers.tmp.iterdir()) == []  # the heir removed the dead worker's download at start
    assert [(worker_id, attempt) for _, worker_id, attempt, _ in workers.calls()] == [
        ("doomed", 1),
        ("heir", 2),
    ]


def test_sigterm_lets_the_running_job_finish_and_claims_nothing_more(
    workers: Workers, queue_job: QueueJob
) -> None:
    job, worker = hold_a_job(workers, queue_job, VIDEO_JOBS_SHUTDOWN_GRACE="60")
    waiting = queue_job(b"next in line")

    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM: stopping" in workers.log(), what="the worker to take the signal")
    assert fresh(job).status == "processing"  # still its job while the grace period runs
    workers.release()

    assert worker.wait(timeout=30) == 0
    assert (fresh(job).status, fresh(job).attempts) == ("done", 1)
    assert (fresh(waiting).status, fresh(waiting).attempts) == ("queued", 0)
    assert list(workers.tmp.iterdir()) == []


def test_sigterm_hands_the_job_back_when_the_grace_period_runs_out(
    workers: Workers, queue_job: QueueJob
) -> None:
    job, worker = hold_a_job(workers, queue_job, VIDEO_JOBS_SHUTDOWN_GRACE="0.5")

    worker.send_signal(signal.SIGTERM)

    assert worker.wait(timeout=30) == 0
    job = fresh(job)
    assert (job.status, job.attempts, job.worker_id, job.lease_expires_at) == ("queued", 0, "", None)
    assert list(workers.tmp.iterdir()) == []
    assert "handed back" in workers.log()
    [(_, _, _, analysing)] = workers.calls()
    assert not running(analysing)  # the analysis child was killed, not left running


def test_a_second_signal_exits_at_once_and_the_lease_brings_the_job_back(
    workers: Workers, queue_job: QueueJob
) -> None:
    job, worker = hold_a_job(workers, queue_job, VIDEO_JOBS_SHUTDOWN_GRACE="60")

    worker.send_signal(signal.SIGINT)
    wait_for(lambda: "SIGINT: stopping" in workers.log(), what="the worker to take the first signal")
    worker.send_signal(signal.SIGINT)

    assert worker.wait(timeout=10) == 128 + signal.SIGINT
    [(_, _, _, analysing)] = workers.calls()
    wait_for(lambda: not running(analysing), what="the analysis child to die with its worker")
    job = fresh(job)
    assert job.status == "processing"
    assert list(workers.tmp.iterdir()) == []  # even the immediate exit removes its download
    assert job.lease_expires_at is not None
    assert services.requeue_expired_leases() == 0  # the lease outlives its worker...
    # ...until it ends.
    Job.objects.filter(pk=job.pk).update(lease_expires_at=DatabaseNow(-timedelta(seconds=1)))
    assert services.requeue_expired_leases() == 1
    assert (fresh(job).status, fresh(job).attempts) == ("queued", 1)


# --- wake-up ------------------------------------------------------------------------------------------------


def test_an_idle_worker_wakes_on_notify_within_milliseconds(workers: Workers, queue_job: QueueJob) -> None:
    # A 30 s poll: only NOTIFY can explain a quick pickup.
    workers.start("--poll-interval", "30")
    wait_for(listening_workers, what="the worker to LISTEN")
    latencies = []
    for n in range(20):
        job = queue_job(b"clip %d" % n)
        job = wait_for(partial(reached, job, ("done",)), what="pickup")
        assert job.started_at is not None
        assert job.queued_at is not None
        latencies.append((job.started_at - job.queued_at).total_seconds())

    p50 = statistics.median(latencies)
    print(f"pickup latency: p50 {p50 * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")
    assert max(latencies) < 1.0


def test_the_worker_reconnects_after_the_database_drops_its_connections(
    workers: Workers, queue_job: QueueJob
) -> None:
    workers.start("--poll-interval", "30")
    [listener] = wait_for(listening_workers, what="the worker to LISTEN")

    # What a database restart does to a worker: every one of its connections is cut.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    wait_for(lambda: (pids := listening_workers()) and pids != [listener], what="a new LISTEN connection")

    job = queue_job(b"after the restart")
    job = wait_for(lambda: (row := fresh(job)).status == "done" and row, timeout=10, what="pickup")
    assert job.started_at is not None
    assert job.queued_at is not None
    assert (job.started_at - job.queued_at).total_seconds() < 1.0  # by NOTIFY, not the 30 s poll
    assert "reconnecting" in workers.log()


# --- the supervisor -----------------------------------------------------------------------------------------


def test_the_supervisor_restarts_a_crashed_worker_and_stops_all_gracefully(workers: Workers) -> None:
    supervisor = workers.start("--concurrency", "2", "--worker-id", "pool")
    wait_for(lambda: len(listening_workers()) == 2, what="two workers listening")
    first = wait_for(lambda: len(pids := children_of(supervisor.pid)) == 2 and pids, what="two children")

    crashed = min(first)
    os.kill(crashed, signal.SIGKILL)
    second = wait_for(
        lambda: len(pids := children_of(supervisor.pid)) == 2 and crashed not in pids and pids,
        what="the crashed worker to be replaced",
    )
    wait_for(lambda: len(listening_workers()) == 2, what="the replacement to listen")

    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=30) == 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in second)
    assert "restarting it" in workers.log()


# --- a ten-minute video in bounded memory -------------------------------------------------------------------


@pytest.fixture(scope="module")
def grainy_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A ten-minute video and a ten-second one, alike but for length. Sensor grain makes the long one tens
    of megabytes, so reading it into memory would show in the worker's peak RSS."""
    directory = tmp_path_factory.mktemp("grainy")
    videos = {}
    for name, seconds in (("short", 10), ("long", 600)):
        path = write_test_video(
            directory / f"{name}.mp4", seconds=seconds, width=160, height=90, fps=10, grain=40, crf=10
        )
        videos[name] = path.read_bytes()
    return videos


def analysis_peak_rss_bytes(log: str) -> int:
    """The peak RSS of the analysis child the worker logged (at DEBUG) for its job."""
    [mib] = re.findall(r"analysis process \d+ exited with status 0 after [\d.]+s, peak RSS (\d+) MiB", log)
    return int(mib) * 2**20


def test_a_ten_minute_video_is_analysed_in_bounded_memory(
    workers: Workers, queue_job: QueueJob, grainy_videos: dict[str, bytes]
) -> None:
    peaks = {}
    children = {}
    results: dict[str, Any] = {}
    for index, name in enumerate(("short", "long")):
        job = queue_job(grainy_videos[name])
        worker = workers.start(analyzer=settings.VIDEO_JOBS_ANALYZER, LOG_LEVEL="DEBUG")
        job = wait_for(partial(reached, job, ("done", "failed")), timeout=120)
        assert job.status == "done", job.error_message
        peaks[name] = peak_rss_bytes(worker.pid)
        results[name] = job.result
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        children[name] = analysis_peak_rss_bytes(workers.log(index))

    size = len(grainy_videos["long"])
    video = results["long"]["video"]
    assert (video["duration_seconds"], video["frames"], video["width"]) == (600.0, 6000, 160)
    assert len(results["long"]["motion"]["segments"]) == 75  # one burst every 8 s
    print(
        f"10-minute video: {size / 2**20:.0f} MiB; peak RSS of the analysis child "
        f"{children['long'] / 2**20:.0f} MiB vs {children['short'] / 2**20:.0f} MiB for 10 seconds, "
        f"of the worker {peaks['long'] / 2**20:.0f} MiB vs {peaks['short'] / 2**20:.0f} MiB"
    )
    # Holding the file (or its frames) in memory would add at least its size; streaming adds next to nothing,
    # in the child that decodes and in the worker that downloads.
    assert size > 50 * 2**20
    assert children["long"] - children["short"] < 20 * 2**20
    assert peaks["long"] - peaks["short"] < 20 * 2**20
