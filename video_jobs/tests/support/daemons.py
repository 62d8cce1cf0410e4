"""A daemon whose passes follow a script, for the tests of the daemon skeleton (``video_jobs.daemon``): driven
in the test's own process, or run as a process of its own by ``manage.py shell -c`` (``SCRIPTED_MAIN``)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from video_jobs.daemon.skeleton import Daemon

# A pass's step: whether it did work, an error it raises, or a function of the daemon that says which.
Step = bool | Exception | Callable[["Scripted"], bool]

SCRIPTED_MAIN = "from video_jobs.tests.support.daemons import main; main()"


class Scripted(Daemon):
    """Each pass takes the next step (no work once they run out) and logs ``pass N``. With ``hold_until``
    it holds work until that file exists, and a stop waits for it as a dispatcher's waits for its sends.
    Records how long each of its sleeps lasted and what it was allowed."""

    log = logging.getLogger(__name__)

    def __init__(
        self, *steps: Step, hold_until: Path | None = None, poll_interval: float = 30.0, burst: bool = False
    ) -> None:
        super().__init__(
            name="scripted",
            channel="video_jobs_scripted",
            poll_interval=poll_interval,
            burst=burst,
            listen=False,
        )
        self.steps = list(steps)
        self.hold_until = hold_until
        self.passes = 0
        self.sleeps: list[tuple[float, float]] = []  # (slept, timeout)

    def starting(self) -> None:
        self.log.info("scripted daemon started (pid %s)", os.getpid())

    def run_once(self) -> bool:
        self.passes += 1
        self.log.info("pass %s%s", self.passes, " after a stop" if self.stop_requested else "")
        step = self.steps.pop(0) if self.steps else False
        if callable(step):
            step = step(self)
        if isinstance(step, Exception):
            raise step
        return step

    def holding_work(self) -> bool:
        return self.hold_until is not None and not self.hold_until.exists()

    def finished(self) -> bool:
        return self.stop_requested and not self.holding_work()

    def _sleep(self, timeout: float) -> None:
        started = time.monotonic()
        super()._sleep(timeout)
        self.sleeps.append((time.monotonic() - started, timeout))


def main() -> None:
    """A scripted daemon as a process: it polls every 0.2 s and holds work until ``$HOLD_UNTIL`` exists (if
    set); its exit status is run()'s."""
    hold_until = os.environ.get("HOLD_UNTIL")
    daemon = Scripted(hold_until=Path(hold_until) if hold_until else None, poll_interval=0.2)
    raise SystemExit(daemon.run())
