"""Real ``run_worker`` processes outlive what the hostile uploads of issue 10 make an analysis do (hang,
allocate without end, abort, segfault, exit; a timestamp leap, a huge frame, a truncated file, random bytes):
each job ends with its code within its time limit, and the same worker process, within its memory, goes on
to the next job. A lost lease or a cut database ends an analysis without a write."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from psycopg import sql

from video_jobs.models import VideoAnalysisJob

from ..support import analyzers
from ..support.analyzers import ABORT, ALLOCATE, EXIT, SEGFAULT, SLEEP
from ..support.hostile_videos import random_bytes, timestamp_gap_matroska, truncated, webm_without_duration
from ..support.waiting import wait_for
from ..support.worker_processes import (
    FAST_RECOVERY,
    HOLD,
    Job,
    Workers,
    peak_rss_bytes,
    reached,
    running,
)
from ..support.worker_support import QueueJob, fresh

# The limits the real workers below run under: small, so that the suite stays quick.
MEMORY_MB = 512
TIMEOUT = 3.0
HOSTILE = "video_jobs.tests.support.analyzers.hostile"
LIMITS = {
    "VIDEO_JOBS_ANALYSIS_MEMORY_MB": str(MEMORY_MB),
    "VIDEO_JOBS_ANALYSIS_TIMEOUT": str(TIMEOUT),
    "VIDEO_JOBS_POLL_INTERVAL": "0.1",
}
# Seconds a job may take beyond its analysis time limit: download, pickup, the writes.
SLACK = 3.0


def started_worker(workers: Workers, analyzer: str) -> tuple[subprocess.Popen[bytes], int]:
    """A worker for these tests, once it runs; and its peak RSS then, before any job (its baseline)."""
    worker = workers.start(analyzer=analyzer, **LIMITS)
    wait_for(lambda: "started (pid" in workers.log(), what="the worker to start")
    return worker, peak_rss_bytes(worker.pid)


def survives(
    workers: Workers, queue_job: QueueJob, hostile: bytes, *, analyzer: str, normal: bytes
) -> VideoAnalysisJob:
    """Run ``hostile`` through a real worker, then a normal upload through the same one; returns how the
    hostile job ended, once it is proved that the worker lived on, within its memory."""
    worker, baseline = started_worker(workers, analyzer)
    with override_settings(VIDEO_JOBS_MAX_ATTEMPTS=1):
        job = queue_job(hostile)
        ended = wait_for(
            partial(reached, job, ("done", "failed")), timeout=TIMEOUT + 30, what="the job's end"
        )
    assert ended.started_at is not None
    assert ended.finished_at is not None
    assert (ended.finished_at - ended.started_at).total_seconds() < TIMEOUT + SLACK

    after = queue_job(normal)
    after = wait_for(partial(reached, after, ("done", "failed")), timeout=30, what="the next job's end")
    assert after.status == "done", after.error_message
    # The one worker process ended the hostile job (a failure clears worker_id: its log tells) and still
    # runs, under the same pid, after the next job.
    assert f"job {ended.pk}" in workers.log()
    assert after.worker_id == f"{socket.gethostname()}:{worker.pid}"
    assert worker.poll() is None
    assert peak_rss_bytes(worker.pid) < baseline + MEMORY_MB * 2**20
    return ended


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("command", "code", "message"),
    [
        (SLEEP, "analysis_timeout", "the analysis took longer than 3 s and was stopped"),
        (ALLOCATE, "analysis_crashed", "the analysis ran out of memory (peak memory "),
        (ABORT, "analysis_crashed", "the analysis crashed: its process killed by SIGABRT"),
        (SEGFAULT, "analysis_crashed", "the analysis crashed: its process killed by SIGSEGV"),
        (EXIT, "analysis_crashed", "the analysis crashed: its process exited with status 3"),
    ],
    ids=["hang", "allocate", "abort", "segfault", "exit"],
)
def test_a_worker_outlives_an_analysis_that_hangs_bloats_or_dies(
    workers: Workers, queue_job: QueueJob, command: bytes, code: str, message: str
) -> None:
    ended = survives(workers, queue_job, command + b" please", analyzer=HOSTILE, normal=b"a cricket video")

    assert (ended.status, ended.error_code) == ("failed", code)
    assert message in ended.error_detail


@pytest.fixture(scope="module")
def hostile_uploads(tmp_path_factory: pytest.TempPathFactory, sample_video: bytes) -> dict[str, bytes]:
    directory = tmp_path_factory.mktemp("hostile")
    leap = timestamp_gap_matroska(
        directory / "leap.mkv", times=[0, 0.04, 0.08, 2_500_000], declare_duration=False
    )
    return {
        "timestamp leap": leap.read_bytes(),
        "streamed webm": webm_without_duration(directory / "recorded.webm").read_bytes(),
        "truncated mp4": truncated(sample_video),
        "random bytes": random_bytes(),
    }


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("upload", "code", "message"),
    [
        ("timestamp leap", "video_limits_exceeded", "duration: the decoded frames span 694.44 h (2500000 s)"),
        ("16384x8192", "video_limits_exceeded", "frame size: the container declares frames of 16384x8192"),
        ("streamed webm", "", ""),
        ("truncated mp4", "invalid_video", "not in a video container format."),
        ("random bytes", "invalid_video", "not in a video container format."),
    ],
)
def test_a_worker_outlives_hostile_videos(
    workers: Workers,
    queue_job: QueueJob,
    hostile_uploads: dict[str, bytes],
    huge_video: Path,
    sample_video: bytes,
    upload: str,
    code: str,
    message: str,
) -> None:
    data = huge_video.read_bytes() if upload == "16384x8192" else hostile_uploads[upload]

    ended = survives(workers, queue_job, data, analyzer=settings.VIDEO_JOBS_ANALYZER, normal=sample_video)

    assert (ended.status, ended.error_code) == ("done" if not code else "failed", code)
    assert message in ended.error_detail
    if ended.status == "done":
        assert ended.result["video"]["frames"] == 100


@pytest.mark.postgres
def test_a_lost_lease_kills_the_child_and_the_worker_goes_on(workers: Workers, queue_job: QueueJob) -> None:
    job = queue_job(b"x" * 2000)
    worker = workers.start(analyzer=HOLD, **FAST_RECOVERY)
    [(_, _, _, child)] = wait_for(workers.calls, what="the analysis to start")

    Job.objects.filter(pk=job.pk).update(worker_id="thief")

    wait_for(lambda: not running(child), what="the worker to kill its child")
    assert "lease lost to another worker" in workers.log()
    stolen = fresh(job)
    assert (stolen.status, stolen.worker_id, stolen.result) == ("processing", "thief", None)
    workers.release()
    following = queue_job(b"y" * 2000)
    assert wait_for(partial(reached, following, ("done",)), what="the next job").attempts == 1
    assert worker.poll() is None


@contextmanager
def database_cut() -> Iterator[None]:
    """No connection to the test database, new or old, until the block ends (what a network partition or a
    database restart does to a worker)."""
    name = connection.settings_dict["NAME"]
    with psycopg.connect(
        host=connection.settings_dict["HOST"] or "127.0.0.1",
        port=connection.settings_dict["PORT"] or 5432,
        user=connection.settings_dict["USER"],
        password=connection.settings_dict["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name)))
    connection.close()  # this process's own connection was cut too


@pytest.mark.postgres
def test_artifacts_are_stored_only_after_the_lease_was_confirmed(
    workers: Workers, queue_job: QueueJob, s3: Any
) -> None:
    job = queue_job(b"x" * 2000)
    workers.start(analyzer="video_jobs.tests.support.analyzers.hold_with_poster", **FAST_RECOVERY)
    wait_for(workers.calls, what="the analysis to start")
    stored = partial(s3.list_objects_v2, Bucket=job.s3_bucket, Prefix=f"videos/{job.pk}/")

    with database_cut():
        workers.release()  # the analysis ends while the worker cannot reach its database
        wait_for(lambda: "could not confirm the lease before storing artifacts" in workers.log(), what="it")
        assert [item["Key"] for item in stored()["Contents"]] == [job.s3_key]  # no poster

    # Once the database is back the lease brings the job back, and its next attempt stores the poster.
    done = wait_for(partial(reached, job, ("done",)), timeout=30, what="the job to be done")
    assert done.attempts == 2
    poster = s3.get_object(Bucket=job.s3_bucket, Key=done.result["artifacts"]["poster.jpg"]["key"])
    assert poster["Body"].read() == analyzers.POSTER
