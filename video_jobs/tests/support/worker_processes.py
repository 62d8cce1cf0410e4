"""Real ``manage.py run_worker`` processes for the tests: wired to the test database (PostgreSQL), moto's S3
server and a control directory that the test analyzers (``analyzers.py``) talk through; killed after the
test, their logs shown when it failed. Also what tests read of them: the job's row, their children, their
memory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from video_jobs.models import VideoAnalysisJob
from video_jobs.s3.embedded import MotoServer

from . import skewed_clock
from .analyzers import CONTROL_DIR, RELEASE, read_calls
from .s3_config import BUCKET
from .waiting import wait_for

Job = VideoAnalysisJob
QueueJob = Callable[..., VideoAnalysisJob]
RECORD = "video_jobs.tests.support.analyzers.record"
HOLD = "video_jobs.tests.support.analyzers.hold"
# Fast recovery for the tests: a 2 s lease (renewed every 2/3 s), sweeps five times a second, short backoff.
FAST_RECOVERY = {
    "VIDEO_JOBS_LEASE_SECONDS": "2",
    "VIDEO_JOBS_SWEEP_INTERVAL": "0.2",
    "VIDEO_JOBS_RETRY_BACKOFF_BASE": "0.1",
    "VIDEO_JOBS_POLL_INTERVAL": "0.1",
}


def database_url() -> str:
    """The URL of the test database (pytest-django's test_<name>), for worker processes."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"])
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Workers:
    """Starts ``manage.py run_worker`` processes wired to the test database, bucket and control directory;
    kills whatever is still running after the test and shows the logs of a failed one."""

    def __init__(self, moto: MotoServer, directory: Path) -> None:
        self.moto = moto
        self.control = directory / "control"
        self.tmp = directory / "tmp"
        self.control.mkdir()
        self.tmp.mkdir()
        self.logs: list[Path] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(
        self, *args: str, analyzer: str = RECORD, clock_offset: str = "", **env: str
    ) -> subprocess.Popen[bytes]:
        """``manage.py run_worker ARGS`` with ``env``; with ``clock_offset`` (seconds, "-600"), in a process
        whose clock runs that much fast (slow, when negative)."""
        log = self.control.parent / f"worker-{len(self.logs) + 1}.log"
        environment = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "AWS_S3_ENDPOINT_URL": self.moto.endpoint,
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "VIDEO_JOBS_ANALYZER": analyzer,
            CONTROL_DIR: str(self.control),
            "VIDEO_JOBS_ANALYSIS_PASS_ENV": CONTROL_DIR,
            # Temporary downloads land here, so tests can see that none is left behind.
            "TMPDIR": str(self.tmp),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "run_worker", *args]
        if clock_offset:
            command[1:2] = ["-m", skewed_clock.__name__, clock_offset]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.logs.append(log)
        self.processes.append(process)
        return process

    def log(self, index: int = 0) -> str:
        return self.logs[index].read_text()

    def calls(self) -> list[tuple[str, str, int, int]]:
        return read_calls(self.control)

    def release(self) -> None:
        (self.control / RELEASE).touch()

    def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def hold_a_job(
    workers: Workers, queue_job: QueueJob, *args: str, **env: str
) -> tuple[VideoAnalysisJob, subprocess.Popen[bytes]]:
    """Queue a job and start a worker that holds it mid-analysis until ``workers.release()``."""
    job = queue_job(b"x" * 2000)
    worker = workers.start(*args, analyzer=HOLD, **env)
    wait_for(workers.calls, what="the worker to start analysing")
    return job, worker


def fresh(job: VideoAnalysisJob) -> VideoAnalysisJob:
    return Job.objects.get(pk=job.pk)


def reached(job: VideoAnalysisJob, statuses: tuple[str, ...]) -> VideoAnalysisJob | None:
    """The job as it is now, once it is in one of ``statuses``; None before."""
    row = fresh(job)
    return row if row.status in statuses else None


def backends(application_name_like: str) -> list[int]:
    """The pids of the database sessions whose application_name is LIKE the pattern (a worker's listener,
    a dispatcher's) and that have run their LISTEN. The name shows from the moment a session connects, a
    little before its LISTEN: one cut in between would listen only a poll interval later."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE %s AND query LIKE 'LISTEN %%'",
            [application_name_like],
        )
        return [row[0] for row in cursor.fetchall()]


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM). Not ru_maxrss: a child started by vfork+exec
    inherits its parent's high-water mark there, so it would report the test process's size."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def children_of(pid: int) -> set[int]:
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Field 4 is the parent pid; the name (field 2) may contain spaces, so split after it.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.add(int(entry.name))
    return children


def running(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
