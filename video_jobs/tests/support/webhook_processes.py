"""``manage.py run_webhooks`` (and other commands) as real child processes wired to the test database, for
the webhook tests that need processes of their own: allowed to deliver to 127.0.0.1, with a 1 s timeout (so
a claim lease of 7 s) and quick retries unless told otherwise; killed after the test, their logs shown when
it failed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from . import skewed_clock
from .worker_processes import database_url

MANAGE = str(settings.BASE_DIR / "manage.py")


class Processes:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.logs: list[Path] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, clock_offset: str = "", **env: str) -> subprocess.Popen[bytes]:
        """``manage.py ARGS`` with ``env``; with ``clock_offset`` (seconds, "30"), in a process whose clock
        runs that much fast (slow, when negative)."""
        log = self.directory / f"process-{len(self.logs) + 1}.log"
        environment = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE": "1",
            "VIDEO_JOBS_WEBHOOK_TIMEOUT": "1",
            "VIDEO_JOBS_WEBHOOK_RETRY_SCHEDULE": "0.2,0.2,0.2",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        command = [sys.executable, MANAGE, *args]
        if clock_offset:
            command[1:2] = ["-m", skewed_clock.__name__, clock_offset]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=environment, stdout=output, stderr=subprocess.STDOUT
            )
        self.logs.append(log)
        self.processes.append(process)
        return process

    def dispatcher(self, *args: str, clock_offset: str = "", **env: str) -> subprocess.Popen[bytes]:
        return self.start("run_webhooks", "--poll-interval", "0.2", *args, clock_offset=clock_offset, **env)

    def stop(self, process: subprocess.Popen[bytes]) -> int:
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=30)

    def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@contextmanager
def child_processes(directory: Path) -> Iterator[Processes]:
    running = Processes(directory)
    try:
        yield running
    finally:
        running.cleanup()
        for log in running.logs:
            print(f"--- {log.name} ---\n{log.read_text()}")  # shown by pytest only when the test failed
