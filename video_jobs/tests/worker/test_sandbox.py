"""Analysis in a child process with limits: whatever an upload makes the analysis do (hang, allocate without
end, abort, crash in native code, exit, raise) ends that child, with the right error, and never the worker.

First the sandbox on its own, then through a worker in this process (codes and retries), then through real
``run_worker`` processes with the hostile uploads of issue 10 (timing, the same pid, memory)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
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

from video_jobs.analysis import InvalidVideo, JobInterrupted, VideoLimitsExceeded, analyze_video
from video_jobs.models import VideoAnalysisJob
from video_jobs.worker.child import MAX_FRAME_BYTES, FrameReader, ProtocolError
from video_jobs.worker.sandbox import AnalysisCrashed, AnalysisTimeout, AnalyzerError, Sandbox

from ..support import analyzers
from ..support.analyzers import ABORT, ALLOCATE, BUG, CONTROL_DIR, EXIT, SEGFAULT, SLEEP, VERBOSE, read_calls
from ..support.hostile_videos import random_bytes, timestamp_gap_matroska, truncated, webm_without_duration
from ..support.waiting import wait_for
from ..support.worker_processes import (
    FAST_RECOVERY,
    HOLD,
    Job,
    Workers,
    children_of,
    peak_rss_bytes,
    reached,
    running,
)
from ..support.worker_support import MakeWorker, QueueJob, fresh, make_claimable

MEMORY_MB = 512
TIMEOUT = 3.0


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The analyzers' control directory, in the environment before any analysis server starts."""
    directory = tmp_path_factory.mktemp("control")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CONTROL_DIR, str(directory))
        yield directory


@pytest.fixture(scope="module")
def sandbox(control: Path) -> Iterator[Sandbox]:
    """One sandbox for the module, as a worker has one for its life: each test also proves that the
    previous tests' children, however they ended, left it working."""
    running_sandbox = Sandbox(memory_mb=MEMORY_MB, timeout=TIMEOUT)
    running_sandbox.start()
    yield running_sandbox
    running_sandbox.close()


@pytest.fixture
def upload(tmp_path: Path) -> Any:
    def write(data: bytes) -> Path:
        path = tmp_path / "upload.video"
        path.write_bytes(data)
        return path

    return write


# The job the sandbox's analyses are for (an analysis child only reads it).
JOB = VideoAnalysisJob(worker_id="sandboxed", attempts=1)


def analyse(sandbox: Sandbox, analyzer: Any, path: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("progress", lambda fraction: None)
    kwargs.setdefault("check", lambda: None)
    return sandbox.run(analyzer, path, job=JOB, **kwargs)


def last_child(control: Path) -> int:
    """The pid of the process that ran the latest analysis (the analyzers record it)."""
    return read_calls(control)[-1][3]


# --- the sandbox on its own ---------------------------------------------------------------------------------


def test_an_analysis_in_a_child_gives_what_it_gives_in_this_process(
    sandbox: Sandbox, upload: Any, sample_video: bytes
) -> None:
    path = upload(sample_video)

    sandboxed = analyse(sandbox, analyze_video, path)

    here = analyze_video(path)
    assert sandboxed.result == here.result
    assert sandboxed.artifacts == here.artifacts


def test_progress_and_log_records_come_back_from_the_child(
    sandbox: Sandbox, upload: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fractions: list[float] = []

    with caplog.at_level(logging.WARNING, logger="video_jobs.tests.chatty"):
        analysis = analyse(sandbox, analyzers.chatty, upload(b"hello"), progress=fractions.append)

    assert analysis.result == {"said": "hello"}
    assert fractions == [0.25, 1.0]
    [record] = [record for record in caplog.records if record.name == "video_jobs.tests.chatty"]
    assert record.getMessage() == f"halfway through job {JOB.pk}"


def test_what_the_analyzer_raises_comes_back_as_it_was_raised(
    sandbox: Sandbox, upload: Any, tmp_path: Path
) -> None:
    with pytest.raises(InvalidVideo, match="not in a video container"):
        analyse(sandbox, analyze_video, upload(random_bytes()))
    leap = timestamp_gap_matroska(tmp_path / "leap.mkv", times=[0, 0.04, 2_500_000])
    with pytest.raises(VideoLimitsExceeded, match=r"^duration: the container declares 694\.44 h"):
        analyse(sandbox, analyze_video, leap)
    with pytest.raises(AnalyzerError) as bug:
        analyse(sandbox, analyzers.hostile, upload(BUG))
    assert str(bug.value) == "ZeroDivisionError: the analyzer divided by zero"
    assert 'raise ZeroDivisionError("the analyzer divided by zero")' in bug.value.details
    with pytest.raises(AnalyzerError, match=r"^ResultTooLarge: the result is 500014 bytes of JSON"):
        analyse(sandbox, analyzers.hostile, upload(VERBOSE))


def test_a_child_that_hangs_is_killed_at_the_time_limit(sandbox: Sandbox, upload: Any, control: Path) -> None:
    started = time.monotonic()

    with pytest.raises(AnalysisTimeout, match="took longer than 3 s"):
        analyse(sandbox, analyzers.hostile, upload(SLEEP))

    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 2
    assert not running(last_child(control))


def test_a_child_that_allocates_without_end_stops_at_its_memory_limit(sandbox: Sandbox, upload: Any) -> None:
    with pytest.raises(AnalysisCrashed) as crashed:
        analyse(sandbox, analyzers.hostile, upload(ALLOCATE))

    assert str(crashed.value).startswith("the analysis ran out of memory (peak memory ")
    peak = int(str(crashed.value).split("peak memory ")[1].split(" MiB")[0])
    assert 200 < peak <= MEMORY_MB  # it did fill its address space, and no more


@pytest.mark.parametrize(
    ("command", "death"),
    [(ABORT, "killed by SIGABRT"), (SEGFAULT, "killed by SIGSEGV"), (EXIT, "exited with status 3")],
    ids=["abort", "segfault", "exit"],
)
def test_a_child_that_dies_is_a_crash(sandbox: Sandbox, upload: Any, command: bytes, death: str) -> None:
    with pytest.raises(AnalysisCrashed, match=f"^the analysis crashed: its process {death} \\(peak memory"):
        analyse(sandbox, analyzers.hostile, upload(command))


def test_a_job_the_worker_must_drop_kills_its_child(sandbox: Sandbox, upload: Any, control: Path) -> None:
    calls_before = len(read_calls(control))

    def check() -> None:
        # The lease was lost (or a shutdown's grace ran out) once the child got going.
        if len(read_calls(control)) > calls_before:
            raise JobInterrupted("lease lost to another worker")

    started = time.monotonic()
    with pytest.raises(JobInterrupted):
        analyse(sandbox, analyzers.hostile, upload(SLEEP), check=check)

    assert time.monotonic() - started < TIMEOUT
    assert not running(last_child(control))


def analysis_servers() -> list[int]:
    """This process's running analysis servers."""
    return [
        pid
        for pid in children_of(os.getpid())
        if running(pid) and b"cricksy.analysis_server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def test_a_server_that_died_is_replaced_before_the_next_analysis(sandbox: Sandbox, upload: Any) -> None:
    [server] = analysis_servers()
    os.kill(server, signal.SIGKILL)

    assert analyse(sandbox, analyzers.chatty, upload(b"again")).result == {"said": "hello"}
    [replacement] = analysis_servers()
    assert replacement != server


def test_an_analyzer_that_cannot_reach_a_child_is_refused_plainly(sandbox: Sandbox, upload: Any) -> None:
    with pytest.raises(TypeError, match="give the dotted path of a module-level function"):
        analyse(sandbox, lambda path, *, job, progress: None, upload(b"x"))


def test_frames_arrive_whole_however_the_pipe_splits_them() -> None:
    read_fd, write_fd = os.pipe()
    reader = FrameReader(read_fd)
    message = len(b'{"progress": 0.5}').to_bytes(4, "big") + b'{"progress": 0.5}'

    os.write(write_fd, message[:3])
    assert reader.read() == []
    os.write(write_fd, message[3:] + message[:10])
    assert reader.read() == [b'{"progress": 0.5}']
    os.write(write_fd, message[10:])
    os.close(write_fd)
    assert reader.read() == [b'{"progress": 0.5}']
    assert reader.closed
    os.close(read_fd)


def test_a_frame_longer_than_allowed_is_refused_before_it_is_read() -> None:
    read_fd, write_fd = os.pipe()
    reader = FrameReader(read_fd)
    os.write(write_fd, (MAX_FRAME_BYTES + 1).to_bytes(4, "big") + b"x" * 1000)

    with pytest.raises(ProtocolError, match="a frame of 16777217 bytes"):
        reader.read()
    os.close(write_fd)
    os.close(read_fd)


# --- through a worker: error codes and retries -------------------------------------------------------------


@pytest.mark.django_db
@override_settings(VIDEO_JOBS_ANALYSIS_TIMEOUT=1, VIDEO_JOBS_RETRY_BACKOFF_BASE=0)
@pytest.mark.parametrize(
    ("command", "code", "message"),
    [
        (SLEEP, "analysis_timeout", "the analysis took longer than 1 s and was stopped"),
        (ABORT, "analysis_crashed", "the analysis crashed: its process killed by SIGABRT"),
    ],
    ids=["hang", "crash"],
)
def test_a_child_that_fails_every_attempt_fails_the_job_with_its_own_code(
    make_worker: MakeWorker, queue_job: QueueJob, control: Path, command: bytes, code: str, message: str
) -> None:
    job = queue_job(command)
    worker = make_worker(analyzer=analyzers.hostile, isolated=True)

    worker.run_once()
    retried = fresh(job)
    assert (retried.status, retried.attempts, retried.error_code) == ("queued", 1, "")
    assert message in retried.error_detail
    for _ in range(2):
        make_claimable(job)
        worker.run_once()

    failed = fresh(job)
    assert (failed.status, failed.attempts, failed.error_code) == ("failed", 3, code)
    assert message in failed.error_detail


@pytest.mark.django_db
def test_a_video_over_the_limits_fails_at_once_as_video_limits_exceeded(
    make_worker: MakeWorker, queue_job: QueueJob, tmp_path: Path
) -> None:
    leap = timestamp_gap_matroska(tmp_path / "leap.mkv", times=[0, 0.04, 0.08, 2_500_000])
    job = queue_job(leap.read_bytes())

    make_worker(isolated=True).run_once()

    failed = fresh(job)
    assert (failed.status, failed.attempts, failed.error_code) == ("failed", 1, "video_limits_exceeded")
    assert failed.error_message.startswith("duration: the container declares 694.44 h (2500000 s)")


# --- through real run_worker processes ----------------------------------------------------------------------

# The limits the real workers below run under: small, so that the suite stays quick.
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
