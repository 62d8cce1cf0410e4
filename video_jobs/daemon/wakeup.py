"""Waking an idle loop: a self-pipe (safe to write from a signal handler or another thread) and a
PostgreSQL LISTEN connection whose socket the loop select()s on beside it. The worker and the webhook
dispatcher both use them."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

import psycopg
from django.db import connection

logger = logging.getLogger(__name__)


class SelfPipe:
    """A non-blocking pipe: ``poke()`` makes ``fileno()`` readable until ``drain()``.

    ``poke()`` takes no lock and never blocks, so it is safe from a signal handler; the write end can also be
    given to ``signal.set_wakeup_fd``.
    """

    def __init__(self) -> None:
        self._read, self.write_fd = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self.write_fd, False)
        self.closed = False

    def fileno(self) -> int:
        return self._read

    def poke(self) -> None:
        if self.closed:
            return  # its descriptor number may name another file by now
        # A full pipe already holds a wake-up, so a failed write loses nothing.
        with suppress(BlockingIOError, OSError):
            os.write(self.write_fd, b"\0")

    def drain(self) -> None:
        with suppress(BlockingIOError, OSError):
            while os.read(self._read, 4096):
                pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._read)
            os.close(self.write_fd)


class ChannelListener:
    """A dedicated connection that LISTENs on ``channel``; it reconnects after the database restarts (until
    then the caller polls). ``fresh`` is True right after (re)connecting: notifications sent before LISTEN
    took effect were missed, so the caller should look for work once more before it sleeps."""

    def __init__(self, *, channel: str, name: str, retry_interval: float) -> None:
        self.channel = channel
        self.name = name
        self.retry_interval = retry_interval
        self.fresh = False
        self._conn: psycopg.Connection[Any] | None = None
        self._retry_at = 0.0

    def fileno(self) -> int | None:
        """The socket to select() on, connecting first if due; None while disconnected."""
        if self._conn is None and time.monotonic() >= self._retry_at:
            self._connect()
        return self._conn.fileno() if self._conn is not None else None

    def _connect(self) -> None:
        params = connection.get_connection_params()
        params["application_name"] = f"video_jobs listen {self.name}"[:63]
        params.setdefault("connect_timeout", 5)
        try:
            conn = psycopg.connect(**params, autocommit=True)
            conn.execute(f"LISTEN {self.channel}")
        except psycopg.Error as exc:
            logger.warning("LISTEN %s failed (%s); polling meanwhile", self.channel, exc)
            self._retry_at = time.monotonic() + self.retry_interval
            return
        self._conn = conn
        self.fresh = True
        logger.info("listening on %s", self.channel)

    def drain(self) -> int:
        """Consume waiting notifications; returns how many. A broken connection is dropped, to reconnect."""
        if self._conn is None:
            return 0
        try:
            return sum(1 for _ in self._conn.notifies(timeout=0))
        except psycopg.Error as exc:
            logger.warning("LISTEN connection lost (%s); reconnecting", exc)
            self.close()
            return 0

    def close(self) -> None:
        if self._conn is not None:
            with suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


@contextmanager
def signals_handled(wake: SelfPipe, handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """Route SIGTERM and SIGINT to ``handler`` and wake ``wake``'s select() on any signal, for the block;
    the previous handlers come back after it. Only the main thread may set them: elsewhere, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous_fd = signal.set_wakeup_fd(wake.write_fd, warn_on_full_buffer=False)
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        signal.set_wakeup_fd(previous_fd)
