"""Analyzers for the worker tests. Worker subprocesses load them by dotted path (VIDEO_JOBS_ANALYZER) and
talk to the test through files in the directory named by CRICKSY_TEST_ANALYZER_DIR (passed to the analysis
process by VIDEO_JOBS_ANALYSIS_PASS_ENV). They run where a real analyzer runs: in the worker's analysis child
process (its pid is the one recorded), which has no Django settings: this module imports no models."""

from __future__ import annotations

import ctypes
import logging
import os
import time
from pathlib import Path

from video_jobs.analysis import Analysis, Artifact, JobInfo, ProgressCallback

CONTROL_DIR = "CRICKSY_TEST_ANALYZER_DIR"
CALLS = "calls.log"
RELEASE = "release"


def _control_dir() -> Path:
    return Path(os.environ[CONTROL_DIR])


def _record_call(job: JobInfo) -> None:
    # One write() to an O_APPEND file: lines from concurrent processes never interleave or overwrite.
    fd = os.open(_control_dir() / CALLS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{job.pk} {job.worker_id} {job.attempts} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def read_calls(directory: Path) -> list[tuple[str, str, int, int]]:
    """Every analyzer call so far: (job id, worker id, attempt, pid)."""
    path = directory / CALLS
    if not path.exists():
        return []
    calls = []
    for line in path.read_text().splitlines():
        job_id, worker_id, attempts, pid = line.split()
        calls.append((job_id, worker_id, int(attempts), int(pid)))
    return calls


def record(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
    """Count the call, then answer at once."""
    _record_call(job)
    return Analysis(result={"analysed_by": job.worker_id, "bytes": path.stat().st_size})


def hold(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
    """Count the call, then hold the job "mid-analysis" until the test creates the release file.

    It keeps calling the progress callback, as a real analyzer does, so the worker can interrupt it.
    """
    _record_call(job)
    release = _control_dir() / RELEASE
    deadline = time.monotonic() + 120
    while not release.exists():
        progress(0.5)
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released the held job")
        time.sleep(0.02)
    return Analysis(result={"analysed_by": job.worker_id, "bytes": path.stat().st_size})


POSTER = b"\xff\xd8 a poster \xff\xd9"


def hold_with_poster(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
    """``hold``, then a result with a poster artifact for the worker to store."""
    analysis = hold(path, job=job, progress=progress)
    return Analysis(result=analysis.result, artifacts=(Artifact("poster.jpg", POSTER, "image/jpeg"),))


# What ``hostile`` does with an upload that starts with one of these.
SLEEP, ALLOCATE, ABORT, EXIT, SEGFAULT = b"sleep", b"allocate", b"abort", b"exit", b"segfault"
BUG, VERBOSE = b"bug", b"verbose"


def hostile(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
    """Misbehave as the upload's first word says, like analysis code meeting an upload that breaks it: hang
    without a word, allocate without end, abort, exit, crash in native code, raise, answer at length. Any
    other upload is analysed like ``record`` does."""
    _record_call(job)
    command = path.read_bytes()[:16].split(b" ")[0]
    if command == SLEEP:
        while True:
            time.sleep(3600)
    if command == ALLOCATE:
        hoard = []
        while True:
            hoard.append(b"\x01" * 2**24)  # written, not just reserved: resident memory grows
    if command == ABORT:
        os.abort()
    if command == EXIT:
        os._exit(3)
    if command == SEGFAULT:
        ctypes.string_at(0)
    if command == BUG:
        raise ZeroDivisionError("the analyzer divided by zero")
    if command == VERBOSE:
        return Analysis(result={"timeline": [0.5] * 100_000})
    return Analysis(result={"analysed_by": job.worker_id, "bytes": path.stat().st_size})


def chatty(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
    """Reports progress and logs as it goes, then answers."""
    progress(0.25)
    logging.getLogger("video_jobs.tests.chatty").warning("halfway through job %s", job.pk)
    progress(1.0)
    return Analysis(result={"said": "hello"})
