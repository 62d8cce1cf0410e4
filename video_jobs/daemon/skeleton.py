"""The loop every daemon runs (``run_worker``, ``run_webhooks``): passes of the daemon's own work, back to
back while they find some; when one finds none, the metrics held in memory are written and the loop sleeps
until the self-pipe, a NOTIFY on the daemon's channel or the poll interval wakes it; after a database error
it waits the poll interval and the next pass reconnects. A first SIGTERM/SIGINT asks for a graceful stop, a
second exits at once.

A daemon subclasses ``Daemon``: it brings ``run_once()`` (one pass that never blocks on the queue, and says
whether it did any work) and the channel it waits on; the hooks say when it is finished, whether it still
holds work, and what a signal means to it.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import time
from abc import ABC, abstractmethod
from types import FrameType
from typing import ClassVar, Self

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from .. import db
from ..ops import metrics
from .wakeup import ChannelListener, SelfPipe, signals_handled

# A database that went away (restart, failover, network): transient. The loop reconnects, and a worker never
# fails a job for it.
DATABASE_ERRORS = (OperationalError, InterfaceError)

# Seconds a busy daemon holds metric observations in memory before writing them (see metrics.buffered).
METRICS_FLUSH_INTERVAL = 5.0


class Daemon(ABC):
    """Construct, then ``run()`` (the command) or ``run_once()`` pass by pass (tests); ``close()`` after."""

    # Each daemon logs as its own package, so that an operator finds all of a daemon's lines under one name.
    log: ClassVar[logging.Logger] = logging.getLogger(__name__)

    def __init__(
        self, *, name: str, channel: str, poll_interval: float | None, burst: bool, listen: bool
    ) -> None:
        """``name`` shows in its LISTEN connection's application_name; ``channel`` is what it LISTENs to
        (PostgreSQL, without ``burst``, unless ``listen`` is False); ``poll_interval`` (default
        VIDEO_JOBS_POLL_INTERVAL) is the longest it sleeps. ``burst``: end at the first pass that finds no
        work while none is held."""
        self.name = name
        self.channel = channel
        self.poll_interval = poll_interval if poll_interval is not None else settings.VIDEO_JOBS_POLL_INTERVAL
        self.burst = burst
        self.listen = listen
        self.stop_requested = False
        self.closed = False
        self._wake = SelfPipe()
        self._listener: ChannelListener | None = None
        self._next_flush = 0.0

    # --- what each daemon brings ---------------------------------------------------------------------------

    @abstractmethod
    def run_once(self) -> bool:
        """One pass of the daemon's work, without waiting for more to come; returns whether it did any."""

    @abstractmethod
    def starting(self) -> None:
        """What ``run()`` does before the loop: log that it starts and how, start helpers (``close()``
        follows even if this fails)."""

    def finished(self) -> bool:
        """Whether the loop ends before another pass: by default, once a stop is requested."""
        return self.stop_requested

    def holding_work(self) -> bool:
        """Whether work begun by earlier passes is still under way (a burst waits for it to end)."""
        return False

    def on_stop_signal(self, name: str) -> None:
        """The first SIGTERM/SIGINT, before the stop is requested: say what the stop will wait for."""
        self.log.info("%s: stopping", name)

    def on_exit_signal(self, name: str) -> None:
        """The second one, just before the process exits: last words and what must not outlive it."""
        self.log.warning("second %s: exiting now", name)

    # --- the loop ------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Passes until ``finished()`` (or, with ``burst``, until one finds nothing to do); returns the exit
        status, 0 after a graceful stop."""
        if self.listen and not self.burst and db.is_postgresql():
            self._listener = ChannelListener(
                channel=self.channel, name=self.name, retry_interval=self.poll_interval
            )
        try:
            self.starting()
            with metrics.buffered(), signals_handled(self._wake, self._on_signal):
                self.serve()
        finally:
            self.close()
        return 0

    def serve(self) -> None:
        """The loop itself, inside ``run()``'s metrics buffer and signal handlers."""
        worked = False
        while not self.finished():
            if not worked and not self.holding_work():
                # Drops a connection that broke or outlived CONN_MAX_AGE, as Django does between requests.
                # Not between passes that found work: its health check would add a SELECT 1 to every job, and
                # a connection that breaks mid-pass raises a database error, handled below.
                close_old_connections()
            try:
                if time.monotonic() >= self._next_flush:
                    self._flush_metrics()
                worked = self.run_once()
                if worked:
                    continue
                self._flush_metrics()
            except DATABASE_ERRORS as exc:
                worked = False
                self.log.warning("database unavailable (%s); retrying in %ss", exc, self.poll_interval)
                connection.close()
                self._sleep(self.poll_interval)
                continue
            if self.burst and not self.holding_work():
                break
            self._sleep(self.poll_interval)

    def _flush_metrics(self) -> None:
        self._next_flush = time.monotonic() + METRICS_FLUSH_INTERVAL
        metrics.flush()

    def _sleep(self, timeout: float) -> None:
        """Sleep until the self-pipe (``wake()``, a signal), a NOTIFY on the channel, or the timeout."""
        listener = self._listener
        fds = [self._wake.fileno()]
        listen_fd = None
        if listener is not None:
            listen_fd = listener.fileno()
            if listener.fresh:
                # Just (re)connected: a NOTIFY sent before LISTEN took effect was missed, so look once more.
                listener.fresh = False
                return
            if listen_fd is not None:
                fds.append(listen_fd)
        ready, _, _ = select.select(fds, [], [], timeout)
        if self._wake.fileno() in ready:
            self._wake.drain()
        if listener is not None and listen_fd in ready:
            listener.drain()

    def wake(self) -> None:
        """End the loop's sleep now (work came in). Safe from a signal handler or another thread."""
        self._wake.poke()

    # --- stopping ------------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Begin no new work; the loop ends once ``finished()`` says so. Safe from a signal handler: it only
        sets fields and writes to pipes."""
        self.stop_requested = True
        self.wake()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stop_requested:
            self.on_exit_signal(name)
            os._exit(128 + signum)
        self.on_stop_signal(name)
        self.request_stop()

    def close(self) -> None:
        """Drop the LISTEN connection and the self-pipe. Idempotent; a daemon closes its helpers first."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if not self.closed:
            self.closed = True
            self._wake.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
