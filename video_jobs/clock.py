"""The one clock: the database server's.

Leases, their expiry, ``run_after`` and its backoff, upload deadlines, and the stuck-upload and stale-lease
predicates compare times written by different processes on different machines. Every such time is computed
by the database in the statement that writes or compares it, never by the clock of the process that sends
the statement: a worker whose clock runs minutes fast or slow then neither takes a healthy lease nor keeps
an expired one alive.

``DatabaseNow(offset)`` is that time as a Django expression: a value for ``update()``, ``save()`` and
``filter()``, which the worker's hand-built statements (``services.sql``) render the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import NotSupportedError, connection
from django.db.models import DateTimeField, Expression
from django.db.models.sql import Query

# PostgreSQL: when the statement started. now() would be when its transaction started, which for a write
# inside a longer transaction is earlier than the moment it becomes visible.
POSTGRESQL_NOW = "STATEMENT_TIMESTAMP()"
# SQLite has no time type: Django stores datetimes as UTC text, 'YYYY-MM-DD HH:MM:SS[.ffffff]'. This
# writes the same layout, so comparing the text orders the times: SQLite's clock has milliseconds, padded
# to six digits (as "SS.fff" alone, a time Python wrote as "SS.fff000" compared later than the same
# millisecond read from the clock). 'now' is fixed for the whole statement.
SQLITE_NOW = "STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f000', 'NOW', %s)"


class DatabaseNow(Expression):
    """The database server's time when the statement runs, plus ``offset`` (which may be negative)."""

    # One field for every instance: building a field per instance cost more than the worker's whole write.
    output_field = DateTimeField()

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        super().__init__()
        self.offset = offset

    def __repr__(self) -> str:
        return f"DatabaseNow({self.offset!r})"

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        raise NotSupportedError(f"DatabaseNow supports PostgreSQL and SQLite, not {connection.display_name}")

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        # The same SQL for every offset (an interval parameter), so prepared statements can hold it.
        return f"({POSTGRESQL_NOW} + %s)", [self.offset]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        return SQLITE_NOW, [f"{self.offset.total_seconds():+.6f} seconds"]


def rendered(now: DatabaseNow, *, postgresql: bool) -> tuple[str, list[Any]]:
    """``now`` as SQL and its parameters, for a hand-built statement (the ORM asks the expression itself)."""
    return now.as_postgresql(None, None) if postgresql else now.as_sqlite(None, None)


def database_now() -> datetime:
    """The database server's time now: for an age that Python computes from times the database wrote."""
    now = DatabaseNow()
    sql, params = Query(None).get_compiler(connection=connection).compile(now)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", params)
        row = cursor.fetchone()
    assert row is not None
    value: Any = row[0]
    for convert in connection.ops.get_db_converters(now):
        value = convert(value, now, connection)
    assert isinstance(value, datetime)
    return value
