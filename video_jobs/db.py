"""The database's vendor, asked in one place; the loader of the hand-tuned statements kept in ``queries.sql``
files; and the runner of those statements on a hot path."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models


def is_postgresql() -> bool:
    """Whether the default database is PostgreSQL (SKIP LOCKED, NOTIFY, the hand-built statements)."""
    return bool(connection.vendor == "postgresql")


def quote(name: str) -> str:
    """An identifier quoted the way both PostgreSQL and SQLite read it."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A string constant: for a value the planner must see (a partial index's condition), not a parameter."""
    return "'" + value.replace("'", "''") + "'"


class Names:
    """A model's names for a statement template: ``{job}`` is its quoted table, ``{job.status}`` the quoted
    column of its field ``status`` (``{job.owner}`` is ``"owner_id"``), all read from ``_meta``."""

    def __init__(self, model: type[models.Model]) -> None:
        self._table = quote(model._meta.db_table)
        self._columns = {
            field.name: quote(field.column) for field in model._meta.concrete_fields if field.column
        }

    def __str__(self) -> str:
        return self._table

    def __getattr__(self, name: str) -> str:
        try:
            return self._columns[name]
        except KeyError:
            raise AttributeError(f"no column for field {name!r} in {self._table}") from None


class _LaterSlots(dict[str, Any]):
    # A slot the loader was not given stays as it is, for the code that composes the statement.
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


_HEADER = re.compile(r"^-- name: (\w+)[ \t]*$", re.MULTILINE)
_COMMENT = re.compile(r"^\s*--.*$\n?", re.MULTILINE)


def fill(statement: str, **slots: Any) -> str:
    """``statement`` with ``slots`` filled in and every other ``{slot}`` left as it is."""
    return statement.format_map(_LaterSlots(slots))


def load_queries(module_file: str, **names: Any) -> dict[str, str]:
    """The statements of the ``queries.sql`` beside ``module_file``, by name, with ``names`` filled in.

    Each statement follows a ``-- name: <name>`` line and runs to the next one. Whole-line comments are for
    the reader and are dropped (a ``%`` in one would confuse the driver's parameters), as is a final ``;``.
    ``{slots}`` take ``names`` now (tables, columns, literals: once, at import); a slot not given, such as
    ``{finish}``, is left for the caller to fill with ``str.format`` when it composes the statement.
    """
    text = (Path(module_file).parent / "queries.sql").read_text(encoding="utf-8")
    parts = _HEADER.split(text)[1:]
    queries = {}
    for name, body in zip(parts[::2], parts[1::2], strict=True):
        if name in queries:
            raise ValueError(f"two statements named {name!r} in {module_file}'s queries.sql")
        statement = _COMMENT.sub("", body).strip().removesuffix(";").strip()
        queries[name] = fill(statement, **names)
    return queries


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
    # As Django's own cursors do: a connection kept from an earlier request (CONN_MAX_AGE) is checked once
    # per request (CONN_HEALTH_CHECKS), and replaced if the server dropped it meanwhile.
    db.close_if_health_check_failed()
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


class RowLoader:
    """Instances of ``model`` from the rows of a hand-built statement, as the ORM would build them: each
    column through the converters the ORM applies to it (SQLite answers text for times and UUIDs; a JSON
    column is parsed on both databases), then ``Model.from_db``. ``columns`` is the SELECT list to put in
    the statement, ``prefix`` qualifying each column (a table or its alias). ``fields`` (every concrete
    field by default) are the columns read; the model's other fields are deferred, loaded on first use."""

    def __init__(
        self,
        model: type[models.Model],
        *,
        fields: Iterable[models.Field[Any, Any]] | None = None,
        prefix: str = "",
    ) -> None:
        self.model = model
        self.fields = list(model._meta.concrete_fields if fields is None else fields)
        self.attnames = [field.attname for field in self.fields]
        qualifier = f"{quote(prefix)}." if prefix else ""
        self.columns = ", ".join(qualifier + quote(field.column) for field in self.fields)
        self.width = len(self.fields)
        self._converters: dict[str, list[tuple[int, Any, list[Any]]]] = {}

    def _converters_for(self, db: Any) -> list[tuple[int, Any, list[Any]]]:
        found = self._converters.get(db.alias)
        if found is None:
            found = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.model._meta.db_table)
                converters = db.ops.get_db_converters(column) + column.get_db_converters(db)
                if converters:
                    found.append((index, column, converters))
            self._converters[db.alias] = found
        return found

    def load(self, row: Sequence[Any], start: int = 0) -> Any:
        """The instance made of ``row[start:start + width]``."""
        db = connections[DEFAULT_DB_ALIAS]
        values = list(row[start : start + self.width])
        for index, column, converters in self._converters_for(db):
            value = values[index]
            for convert in converters:
                value = convert(value, column, db)
            values[index] = value
        return self.model.from_db(db.alias, self.attnames, values)
