"""`make run`'s command as a newcomer runs it (a real process with its S3, gunicorn, worker and dispatcher):
the terminal is not flooded by the access log, which goes to a file, and webhooks can be tried with the
receiver it suggests."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
import requests
from django.conf import settings
from django.db import connection

from video_jobs.s3.embedded import free_port
from video_jobs.s3.seaweedfs import free_port_pair

from ..support.waiting import wait_for

# run_dev runs on its embedded defaults (SQLite, whatever the suite's database): once is enough.
pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="make run runs on SQLite; the SQLite suite runs this"
)
BANNER_END = "Ctrl-C stops everything."


@dataclass
class Lines:
    """A process's output, line by line, read on a thread: a test waits for a line with a deadline."""

    stream: IO[str]
    seen: list[str] = field(default_factory=list)
    _queue: queue.Queue[str] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.stream:
            self._queue.put(line)

    def until(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found
        pytest.fail(f"no line matching {pattern!r} within {timeout}s; saw:\n{''.join(self.seen[-40:])}")

    def drain(self) -> str:
        while True:
            try:
                self.seen.append(self._queue.get_nowait())
            except queue.Empty:
                return "".join(self.seen)


def started(command: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], Lines]:
    process = subprocess.Popen(
        command,
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    return process, Lines(process.stdout)


def stop(process: subprocess.Popen[str], sig: int = signal.SIGINT) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[str, str, Lines, Path]]:
    """run_dev on free ports with its own SQLite file, store and logs: (base URL, token, output, logs)."""
    # The S3 port needs room for its gRPC twin (SeaweedFS takes port + 10000).
    web, s3 = free_port(), free_port_pair(set())
    logs = tmp_path / "logs"
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "DATABASE_URL", "VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE"))
    }
    command = [
        sys.executable,
        str(settings.BASE_DIR / "manage.py"),
        "run_dev",
        f"--bind=127.0.0.1:{web}",
        f"--s3-port={s3}",
        f"--logs={logs}",
        f"--s3-folder={tmp_path / 'seaweedfs'}",
        "--web-workers=1",
    ]
    process, output = started(
        command,
        {
            **environment,
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3}",
        },
    )
    try:
        token = output.until(r"Demo API token \(user 'demo'\): (\w+)", timeout=240).group(1)
        output.until(re.escape(BANNER_END))
        yield f"http://127.0.0.1:{web}", token, output, logs
    finally:
        stop(process)


def test_the_terminal_shows_no_access_log_and_webhooks_can_be_tried(
    make_run: tuple[str, str, Lines, Path],
) -> None:
    base, token, output, logs = make_run
    auth = {"Authorization": f"Token {token}"}
    receiver_port = free_port()
    receiver, heard = started(
        [sys.executable, "-m", "video_jobs.devtools.receiver", "--port", str(receiver_port)]
    )
    try:
        heard.until("receiving webhooks on")
        endpoint = requests.post(
            f"{base}/api/webhook-endpoints/",
            json={"url": f"http://127.0.0.1:{receiver_port}/"},
            headers=auth,
            timeout=30,
        )
        assert endpoint.status_code == 201, endpoint.text  # a loopback receiver, allowed under make run
        ping = requests.post(
            f"{base}/api/webhook-endpoints/{endpoint.json()['id']}/test/", headers=auth, timeout=30
        )
        assert ping.status_code == 202
        heard.until(r"ping .*\[unverified\]")
    finally:
        stop(receiver, signal.SIGTERM)
    for _ in range(5):  # what the coaches' page does every 2 s
        assert requests.get(f"{base}/api/video-jobs/", headers=auth, timeout=30).status_code == 200

    # gunicorn writes a request's line just after its answer.
    wait_for(lambda: (logs / "access.log").read_text().count('"GET /api/video-jobs/ HTTP/1.1" 200') == 5)
    terminal = output.drain()
    assert 'HTTP/1.1" 200' not in terminal
