"""Analysis in a child process with limits: whatever an upload makes the analysis do (hang, allocate without
end, abort, crash in native code, exit, raise) ends that child, with the right error, and never the worker.

The sandbox on its own, then through a worker in this process (codes and retries). Through real
``run_worker`` processes with the hostile uploads of issue 10: test_sandboxed_workers.py."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from video_jobs.analysis import InvalidVideo, JobInfo, JobInterrupted, VideoLimitsExceeded, analyze_video
from video_jobs.models import VideoAnalysisJob
from video_jobs.worker.sandbox import AnalysisCrashed, AnalysisTimeout, AnalyzerError, Sandbox

from ..support import analyzers
from ..support.analyzers import ABORT, ALLOCATE, BUG, CONTROL_DIR, EXIT, SEGFAULT, SLEEP, VERBOSE, read_calls
from ..support.hostile_videos import random_bytes, timestamp_gap_matroska
from ..support.worker_processes import children_of, running
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
    running_sandbox = Sandbox(memory_mb=MEMORY_MB, timeout=TIMEOUT, pass_env=(CONTROL_DIR,))
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
JOB = JobInfo.of(VideoAnalysisJob(worker_id="sandboxed", attempts=1))


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


# --- through a worker: error codes and retries -------------------------------------------------------------


@pytest.mark.django_db
@override_settings(
    VIDEO_JOBS_ANALYSIS_TIMEOUT=1, VIDEO_JOBS_RETRY_BACKOFF_BASE=0, VIDEO_JOBS_ANALYSIS_PASS_ENV=[CONTROL_DIR]
)
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
