"""Several worker processes under one parent: ``run_worker --concurrency N``.

Processes rather than threads: decoding video is CPU work, and the GIL would serialise threads. The
supervisor forwards SIGTERM/SIGINT to its children (each then stops gracefully, or at once on a second
signal), restarts a child that crashed, and exits 0 when every child stopped gracefully.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from functools import partial
from types import FrameType

from django.conf import settings

from .housekeeping import die_with_parent

logger = logging.getLogger(__package__)

# A child that crashes is restarted after this long, doubling per crash up to the maximum (seconds).
RESTART_DELAY = 0.5
RESTART_DELAY_MAX = 5.0


def worker_command(*args: str) -> list[str]:
    return [sys.executable, str(settings.BASE_DIR / "manage.py"), "run_worker", *args]


def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    """Start a child process in its own session, stopped with its parent.

    Its own session keeps a terminal's Ctrl-C from reaching it directly: the parent forwards that signal
    once, where a child in the terminal's process group would see it twice and exit without grace.
    """
    linux = sys.platform.startswith("linux")
    return subprocess.Popen(
        argv,
        cwd=settings.BASE_DIR,
        start_new_session=True,
        # SIGTERM, so that no worker outlives its supervisor unnoticed: it stops gracefully, and the lease
        # covers anything unfinished.
        preexec_fn=partial(die_with_parent, signal.SIGTERM) if linux else None,
    )


class Supervisor:
    def __init__(self, *, concurrency: int, worker_id: str, child_args: list[str]) -> None:
        self.concurrency = concurrency
        self.worker_id = worker_id
        self.child_args = child_args
        self.stopping = False
        self._children: dict[int, tuple[int, subprocess.Popen[bytes]]] = {}
        self._exit_codes: dict[int, int] = {}
        self._crashes: dict[int, int] = {}

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._forward) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for index in range(1, self.concurrency + 1):
                self._start(index)
            logger.info("supervisor %s: %s workers started", self.worker_id, self.concurrency)
            while self._children:
                # Blocks until any child exits; a signal runs _forward and the wait goes on (PEP 475).
                pid, status = os.wait()
                if pid not in self._children:
                    continue
                index, child = self._children.pop(pid)
                child.returncode = code = os.waitstatus_to_exitcode(status)
                self._exit_codes[index] = code
                if code != 0 and not self.stopping:
                    self._restart(index, pid, code)
                else:
                    logger.info("worker %s (pid %s) exited with %s", self._child_id(index), pid, code)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        failed = {self._child_id(index): code for index, code in self._exit_codes.items() if code != 0}
        if failed:
            logger.warning("supervisor %s: workers that did not stop gracefully: %s", self.worker_id, failed)
            return 1
        return 0

    def _child_id(self, index: int) -> str:
        return f"{self.worker_id}-{index}"

    def _start(self, index: int) -> None:
        child = spawn(worker_command(*self.child_args, "--worker-id", self._child_id(index)))
        self._children[child.pid] = (index, child)

    def _restart(self, index: int, pid: int, code: int) -> None:
        crashes = self._crashes[index] = self._crashes.get(index, 0) + 1
        delay = min(RESTART_DELAY_MAX, RESTART_DELAY * 2 ** (crashes - 1))
        logger.error(
            "worker %s (pid %s) exited with %s; restarting it in %.1fs",
            self._child_id(index),
            pid,
            code,
            delay,
        )
        time.sleep(delay)
        if not self.stopping:
            self._start(index)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        logger.info(
            "supervisor: %s, passing it to %s worker(s)", signal.Signals(signum).name, len(self._children)
        )
        for pid in list(self._children):
            with suppress(ProcessLookupError):
                os.kill(pid, signum)
