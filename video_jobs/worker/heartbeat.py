"""The heartbeat: a thread that keeps the running attempt's lease, and hands the job back when a shutdown's
grace period is over. It is handed the one attempt it watches and the lease length, nothing else."""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from .. import services
from ..daemon.skeleton import DATABASE_ERRORS
from ..daemon.wakeup import SelfPipe
from .attempt import Attempt, hand_back
from .housekeeping import logging_job

logger = logging.getLogger(__package__)


class Heartbeat:
    """A long-lived thread (one per worker, not per job) that renews the lease of the attempt it watches.

    It sleeps on a self-pipe until the next renewal, the attempt's stop deadline, an idle tick, or a
    ``wake()``. Its database connection is opened only when a job outlives a third of its lease, and closed
    at the first tick after the job ends, so short jobs never pay for it.
    """

    def __init__(self, *, lease_seconds: int) -> None:
        self.lease_seconds = lease_seconds
        self._attempt: Attempt | None = None
        self._wake = SelfPipe()
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def watching(self, attempt: Attempt) -> Iterator[None]:
        """Keep ``attempt``'s lease while the block runs.

        The thread is not woken for it: its idle tick, a third of a lease, finds the attempt well before the
        lease expires, and back-to-back jobs cost no thread switches.
        """
        self.start()
        self._attempt = attempt
        try:
            yield
        finally:
            self._attempt = None

    def start(self) -> None:
        """Start the thread, if it is not running yet."""
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Make the thread look at the attempt now (its stop deadline changed)."""
        if not self._closed:
            self.start()
            self._wake.poke()

    def close(self) -> None:
        self._closed = True
        self._wake.poke()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._wake.close()

    def _timeout(self) -> float:
        attempt = self._attempt
        if attempt is None or attempt.interrupted:
            return self.lease_seconds / 3
        deadline = attempt.renew_at
        if attempt.stop_deadline is not None:
            deadline = min(deadline, attempt.stop_deadline)
        return max(0.0, deadline - time.monotonic())

    def _run(self) -> None:
        used_database = False
        try:
            while not self._closed:
                select.select([self._wake], [], [], self._timeout())
                self._wake.drain()
                attempt = self._attempt
                if attempt is None or attempt.interrupted:
                    if used_database:
                        connection.close()
                        used_database = False
                    continue
                with logging_job(attempt.job.pk):
                    try:
                        used_database |= self._tick(attempt)
                    except Exception:
                        # A bug here must not end the thread: every later job would run without a heartbeat.
                        logger.exception("job %s: heartbeat failed; trying again in a second", attempt.job.pk)
                        attempt.renew_at = time.monotonic() + 1.0
                        used_database = True
        finally:
            connection.close()

    def _tick(self, attempt: Attempt) -> bool:
        """Renew or hand back as due. Returns whether it used the database."""
        now = time.monotonic()
        if attempt.stop_deadline is not None and now >= attempt.stop_deadline:
            attempt.interrupt("shutdown grace period over")
            hand_back(attempt.job)
            return True
        if now < attempt.renew_at:
            return False
        stage, progress = attempt.stage, attempt.progress
        lease = self.lease_seconds
        try:
            ours = services.renew_lease(
                job=attempt.job,
                lease_seconds=lease,
                stage=stage if attempt.pending else None,
                progress=progress if attempt.pending else None,
            )
        except DATABASE_ERRORS as exc:
            logger.warning(
                "job %s: lease not renewed, database unavailable (%s); retrying", attempt.job.pk, exc
            )
            connection.close()
            attempt.renew_at = now + min(1.0, lease / 6)
            return True
        if not ours:
            attempt.interrupt("lease lost to another worker")
            logger.warning(
                "job %s: lease lost to another worker; dropping the job without writing", attempt.job.pk
            )
            return True
        attempt.renew_at = time.monotonic() + lease / 3
        if (attempt.stage, attempt.progress) == (stage, progress):
            attempt.pending = False
        return True
