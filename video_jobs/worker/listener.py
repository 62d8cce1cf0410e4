"""The worker's LISTEN connection: how an idle worker hears at once that a job became queued."""

from __future__ import annotations

import logging
import time
from contextlib import suppress
from typing import Any

import psycopg
from django.db import connection

from .. import services

logger = logging.getLogger(__package__)


class QueueListener:
    """A dedicated PostgreSQL connection LISTENing for jobs becoming queued, so an idle worker wakes at once.

    It reconnects after the database restarts; until then (and on SQLite) the worker polls.
    """

    def __init__(self, *, worker_id: str, retry_interval: float) -> None:
        self.worker_id = worker_id
        self.retry_interval = retry_interval
        # True right after (re)connecting: notifications sent before LISTEN took effect were missed, so
        # the worker should look for work once more before it sleeps.
        self.fresh = False
        self._conn: psycopg.Connection[Any] | None = None
        self._retry_at = 0.0

    def fileno(self) -> int | None:
        if self._conn is None and time.monotonic() >= self._retry_at:
            self._connect()
        return self._conn.fileno() if self._conn is not None else None

    def _connect(self) -> None:
        params = connection.get_connection_params()
        params["application_name"] = f"video_jobs listen {self.worker_id}"[:63]
        params.setdefault("connect_timeout", 5)
        try:
            conn = psycopg.connect(**params, autocommit=True)
            conn.execute(f"LISTEN {services.QUEUED_CHANNEL}")
        except psycopg.Error as exc:
            logger.warning("LISTEN connection failed (%s); polling meanwhile", exc)
            self._retry_at = time.monotonic() + self.retry_interval
            return
        self._conn = conn
        self.fresh = True
        logger.info("listening on %s", services.QUEUED_CHANNEL)

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
