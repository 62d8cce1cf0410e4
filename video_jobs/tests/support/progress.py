"""A line of progress every few percent of a test run, for `make test`, which runs both suites at once with
each one's whole output in a log file (printed when the suite ends): without it the terminal stayed silent
for minutes.

On when CRICKSY_PROGRESS names the suite; the lines go to file descriptor CRICKSY_PROGRESS_FD (3 in the
Makefile, the terminal), never into the suite's own output.
"""

from __future__ import annotations

import os
import time
from typing import IO

import pytest

# A line at every this many percent of the tests (and at the end).
STEP = 5


class Progress:
    def __init__(self, suite: str, stream: IO[str]) -> None:
        self.suite = suite
        self.stream = stream
        self.total = 0
        self.done = 0
        self.failed = 0
        self.shown = 0
        self.started = time.monotonic()

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)
        self.line(f"{self.total} tests")

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed += 1
        if report.when != "teardown":
            return
        self.done += 1
        percent = 100 * self.done // max(self.total, 1)
        if percent >= self.shown + STEP or self.done == self.total:
            self.shown = percent - percent % STEP
            failed = f", {self.failed} failed" if self.failed else ""
            self.line(f"{percent:3d}% ({self.done}/{self.total}{failed})")

    def line(self, text: str) -> None:
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        self.stream.write(f"[{self.suite} {minutes}:{seconds:02d}] {text}\n")
        self.stream.flush()


def register(config: pytest.Config) -> None:
    suite = os.environ.get("CRICKSY_PROGRESS")
    if not suite or hasattr(config, "workerinput"):
        return
    descriptor = int(os.environ.get("CRICKSY_PROGRESS_FD", "2"))
    stream = os.fdopen(os.dup(descriptor), "w", buffering=1)
    config.pluginmanager.register(Progress(suite, stream), "cricksy-progress")
