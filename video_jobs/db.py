"""The database's vendor, asked in one place, and the runner of hand-built statements on a hot path."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections


def is_postgresql() -> bool:
    """Whether the default database is PostgreSQL (SKIP LOCKED, NOTIFY, the hand-built statements)."""
    return bool(connection.vendor == "postgresql")


def run_hot(sql: str, params: Any, *, fetch: bool = False) -> tuple[int, tuple[Any, ...] | None]:
    """Run one of the worker's per-job statements; returns the row count and, with ``fetch``, the first
    row.

    On PostgreSQL it runs as a prepared statement with server-side parameters, parsed and planned once per
    connection rather than once per job (Django's own cursors bind on the client and never prepare, for
    the sake of connection poolers; VIDEO_JOBS_PREPARED_STATEMENTS=0 does the same here).
    """
    # The wrapper itself, not the thread-local proxy `connection`, which costs a look-up per attribute.
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or not settings.VIDEO_JOBS_PREPARED_STATEMENTS:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount, cursor.fetchone() if fetch else None
    db.ensure_connection()
    started = time.monotonic()
    # Django's error wrapping, so callers see django.db errors (a dropped connection is OperationalError).
    # prepare=True works because settings give the connection a prepare_threshold (Django's is None).
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        result = cursor.rowcount, cursor.fetchone() if fetch else None
    if db.queries_logged:  # keep CaptureQueriesContext and DEBUG's query log complete
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return result
