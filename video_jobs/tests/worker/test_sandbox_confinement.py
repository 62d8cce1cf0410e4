"""The analysis child is confined (issue 20): it finds no secret and cannot reach the database, whatever
it tries; every process a job started is gone when the job ends, however it ends (an answer, the time
limit, the worker killed); it runs without new privileges, in its own namespaces, under limits on CPU,
file size and processes. The analyzers that try are in ``support/prying_analyzers.py``."""

from __future__ import annotations

import json
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from video_jobs.analysis import JobInfo
from video_jobs.models import VideoAnalysisJob
from video_jobs.worker import confinement
from video_jobs.worker.sandbox import AnalysisTimeout, AnalyzerError, Sandbox

from ..support import prying_analyzers as prying
from ..support.analyzers import CONTROL_DIR
from ..support.waiting import wait_for
from ..support.worker_processes import Workers, database_url, reached
from ..support.worker_support import QueueJob

TIMEOUT = 1.0
JOB = JobInfo.of(VideoAnalysisJob(worker_id="confined", attempts=1))
# What the worker holds and the analysis must not: fresh values, so that finding one proves a leak.
SECRETS = {
    "DJANGO_SECRET_KEY": f"django-{secrets.token_hex(16)}",
    "AWS_SECRET_ACCESS_KEY": f"aws-{secrets.token_hex(16)}",
    "AWS_SESSION_TOKEN": f"session-{secrets.token_hex(16)}",
}


def namespaces_allowed() -> bool:
    """Whether this kernel lets a process make its own user namespace (then the child has no network)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0 if confinement._own_namespaces() else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def write_targets(control: Path, needles: list[str]) -> None:
    host = connection.settings_dict["HOST"] or "127.0.0.1"
    port = int(connection.settings_dict["PORT"] or 5432)
    (control / prying.TARGETS).write_text(json.dumps({"needles": needles, "database": [host, port]}))


@pytest.fixture
def control(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CONTROL_DIR, str(tmp_path))
    return tmp_path


@pytest.fixture
def sandbox(control: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A sandbox started by a process whose environment holds the secrets, as a worker's does."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    running = Sandbox(memory_mb=512, timeout=TIMEOUT, pass_env=(CONTROL_DIR,))
    running.start()
    yield running
    running.close()


def analyse(sandbox: Sandbox, analyzer: Any, data: bytes, tmp_path: Path) -> Any:
    path = tmp_path / "upload.video"
    path.write_bytes(data)
    return sandbox.run(analyzer, path, job=JOB, progress=lambda fraction: None, check=lambda: None).result


# --- secrets ------------------------------------------------------------------------------------------------


def test_an_analyzer_that_looks_for_secrets_finds_none(sandbox: Sandbox, control: Path) -> None:
    from django.conf import settings

    write_targets(control, [*SECRETS.values(), settings.SECRET_KEY])

    result = analyse(sandbox, prying.pry, b"x", control)

    assert result["found"] == []
    assert result["own_environment_read"]  # it did look, and /proc let it
    assert result["looked_in"] > 3


@pytest.mark.postgres
@pytest.mark.parametrize("args", [(), ("--concurrency", "2")], ids=["worker", "supervised"])
def test_an_analyzer_in_a_real_worker_finds_no_secret_and_no_database(
    workers: Workers, queue_job: QueueJob, args: tuple[str, ...]
) -> None:
    write_targets(workers.control, [*SECRETS.values(), database_url()])
    job = queue_job(b"x")
    workers.start(*args, analyzer="video_jobs.tests.support.prying_analyzers.pry", **SECRETS)

    done = wait_for(lambda: reached(job, ("done", "failed")), timeout=60, what="the job's end")

    assert done.status == "done", done.error_detail
    # Its own environment, Django's settings, the settings module, every /proc/<pid>/environ it may read
    # (not the worker's or its supervisor's: the user namespace keeps them out, and neither is dumpable).
    assert done.result["found"] == []
    if namespaces_allowed():
        assert done.result["database_reached"] is False


# --- processes left behind ----------------------------------------------------------------------------------


def test_a_process_left_in_a_session_of_its_own_is_gone_when_the_job_is_over(
    sandbox: Sandbox, control: Path
) -> None:
    analyse(sandbox, prying.leave_a_process, b"answer", control)

    assert not prying.still_running(control)


@pytest.mark.parametrize("command", [b"sleep", b"regroup"], ids=["child-in-its-group", "child-out-of-it"])
def test_a_process_left_behind_is_gone_when_the_time_limit_kills_the_job(
    sandbox: Sandbox, control: Path, command: bytes
) -> None:
    with pytest.raises(AnalysisTimeout):
        analyse(sandbox, prying.leave_a_process, command, control)

    assert not prying.still_running(control)
    # The server killed the child itself, in whatever group, and confirmed it: it was not replaced.
    assert sandbox._server is not None


@pytest.mark.postgres
def test_a_process_left_behind_is_gone_when_the_worker_is_killed(
    workers: Workers, queue_job: QueueJob
) -> None:
    queue_job(b"hold")
    worker = workers.start(analyzer="video_jobs.tests.support.prying_analyzers.leave_a_process")
    wait_for(
        lambda: (workers.control / prying.LEFT_BEHIND).exists(), timeout=60, what="a process left behind"
    )
    assert prying.still_running(workers.control)

    worker.send_signal(signal.SIGKILL)
    worker.wait()

    wait_for(lambda: not prying.still_running(workers.control), timeout=10, what="the process to be killed")


# --- privileges and limits ----------------------------------------------------------------------------------


def test_the_child_runs_without_new_privileges_under_its_limits(sandbox: Sandbox, control: Path) -> None:
    result = analyse(sandbox, prying.report_limits, b"x", control)

    assert result["no_new_privs"] == 1
    limits = result["limits"]
    assert limits["AS"] == 512 * 2**20
    assert limits["FSIZE"] == confinement.MAX_FILE_BYTES
    assert limits["CORE"] == 0
    assert 0 < limits["CPU"] <= TIMEOUT * (os.cpu_count() or 1) + 2
    assert result["modules"] == []  # no database layer, no project settings
    if namespaces_allowed():
        assert limits["NPROC"] == confinement.MAX_TASKS
        assert result["namespaces"]["net"] != os.readlink("/proc/self/ns/net")
        assert result["namespaces"]["user"] != os.readlink("/proc/self/ns/user")


def test_a_file_larger_than_allowed_cannot_be_written(sandbox: Sandbox, control: Path) -> None:
    assert analyse(sandbox, prying.write_a_big_file, b"1000", control) == {"written": 1000}

    with pytest.raises(AnalyzerError, match="File too large"):
        analyse(sandbox, prying.write_a_big_file, str(confinement.MAX_FILE_BYTES + 1).encode(), control)


def test_a_job_cannot_start_processes_without_end(sandbox: Sandbox, control: Path) -> None:
    if os.getuid() == 0:
        pytest.skip("the kernel exempts root's processes from RLIMIT_NPROC, in any user namespace")

    result = analyse(sandbox, prying.start_processes, b"x", control)

    assert result["refused"] == "Resource temporarily unavailable"
    assert result["started"] < confinement.MAX_TASKS
