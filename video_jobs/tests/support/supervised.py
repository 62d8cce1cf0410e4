"""Processes for the supervisor tests.

``python -m video_jobs.tests.support.supervised supervisor N ID [ARG ...]`` runs a real Supervisor of N
children named ID-1 .. ID-N. Its children are stand-in workers,
``python -m video_jobs.tests.support.supervised worker [ARG ...] --worker-id ID-n``: they keep a worker's
side of the contract with its supervisor (on SIGTERM or SIGINT, stop
and exit 0; with ``--burst``, exit 0 at once, as on an empty queue) without a database or S3, so the tests
see the supervisor alone. Each writes what happens to it, one JSON line per event, to the events file in the
directory named by CRICKSY_TEST_SUPERVISED_DIR, and misbehaves when the test leaves a file there asking it to:

- ``crash-ID`` holding a number n: exit 3 at start, n times;
- ``ungraceful-ID``: exit 1 when signalled.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

MODULE = "video_jobs.tests.support.supervised"
DIRECTORY = "CRICKSY_TEST_SUPERVISED_DIR"
EVENTS = "events.jsonl"
CRASH_CODE = 3


def _directory() -> Path:
    return Path(os.environ[DIRECTORY])


def _record(event: str, worker_id: str, **details: Any) -> None:
    line = {"event": event, "worker_id": worker_id, "pid": os.getpid(), "at": time.time(), **details}
    # One write() to an O_APPEND file: lines from concurrent processes never interleave.
    fd = os.open(_directory() / EVENTS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


def read_events(directory: Path) -> list[dict[str, Any]]:
    path = directory / EVENTS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _crashes_left(worker_id: str) -> bool:
    """Consume one of the crashes the test asked this worker for."""
    path = _directory() / f"crash-{worker_id}"
    if not path.exists():
        return False
    left = int(path.read_text())
    if left <= 1:
        path.unlink()
    else:
        path.write_text(str(left - 1))
    return left > 0


def worker(argv: list[str]) -> int:
    worker_id = argv[argv.index("--worker-id") + 1]
    _record("start", worker_id, argv=argv, session=os.getsid(0))
    if _crashes_left(worker_id):
        _record("exit", worker_id, code=CRASH_CODE)
        return CRASH_CODE
    if "--burst" in argv:
        _record("exit", worker_id, code=0)
        return 0
    code = 1 if (_directory() / f"ungraceful-{worker_id}").exists() else 0

    def stop(signum: int, frame: FrameType | None) -> None:
        _record("signal", worker_id, name=signal.Signals(signum).name)
        _record("exit", worker_id, code=code)
        raise SystemExit(code)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _record("ready", worker_id)
    # Idle like a worker waiting for jobs; the handler ends the wait. The timeout only bounds a broken test.
    threading.Event().wait(timeout=120)
    _record("exit", worker_id, code=4)
    return 4


def supervisor(concurrency: int, worker_id: str, child_args: list[str]) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cricksy.settings")
    django.setup()
    from video_jobs.worker import supervisor as module

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # The one change to the supervisor under test: what it runs as a child.
    module.worker_command = lambda *args: [
        sys.executable,
        "-m",
        "video_jobs.tests.support.supervised",
        "worker",
        *args,
    ]
    return module.Supervisor(concurrency=concurrency, worker_id=worker_id, child_args=child_args).run()


if __name__ == "__main__":
    role, *rest = sys.argv[1:]
    if role == "worker":
        sys.exit(worker(rest))
    sys.exit(supervisor(int(rest[0]), rest[1], rest[2:]))
