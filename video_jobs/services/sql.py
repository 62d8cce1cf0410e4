"""The hand-built PostgreSQL statements of the worker's hot path, and the one place that asks which
database this is.

The claim, the fenced writes and finish-and-claim run once or twice per job; compiling them through the
ORM each time cost more than their round trip, so they are written here once, with table and column names
taken from the model's ``_meta`` (never typed by hand), and run as prepared statements on PostgreSQL.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models

from ..clock import POSTGRESQL_NOW, DatabaseNow
from ..models import VideoAnalysisJob

Status = VideoAnalysisJob.Status
Stage = VideoAnalysisJob.Stage

_META = VideoAnalysisJob._meta

# The PostgreSQL channel on which a job id is announced when it becomes queued.
QUEUED_CHANNEL = "video_jobs_queued"


def is_postgresql() -> bool:
    """Whether the default database is PostgreSQL (SKIP LOCKED, NOTIFY, the statements below)."""
    return bool(connection.vendor == "postgresql")


def _q(name: str) -> str:
    # PostgreSQL's quoting: these statements only ever run there.
    return '"' + name.replace('"', '""') + '"'


def _field(name: str) -> models.Field[Any, Any]:
    field = _META.get_field(name)
    assert isinstance(field, models.Field)  # a concrete column, not a relation's reverse side
    return field


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def notify_queued(job_ids: list[object]) -> None:
    """Announce newly queued jobs on QUEUED_CHANNEL; a no-op off PostgreSQL.

    Callers send it inside the UPDATE's transaction, so PostgreSQL delivers it at commit and never for a
    rollback.
    """
    if not is_postgresql():
        return
    with connection.cursor() as cursor:
        for job_id in job_ids:
            cursor.execute("SELECT pg_notify(%s, %s)", [QUEUED_CHANNEL, str(job_id)])


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


# --- the fenced write --------------------------------------------------------------------------------------

# Values of these pass to the driver as they are: str, int, None (and on PostgreSQL, datetimes).
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField)
_PLAIN_FIELDS_POSTGRES = (*_PLAIN_FIELDS, models.DateTimeField)


@dataclass(frozen=True)
class _FencedShape:
    sql: str
    # Per column: None (the value as it is), the model field (its get_db_prep_save), or _CLOCK (a
    # DatabaseNow, rendered by ``clock``).
    preps: list[models.Field[Any, Any] | str | None]
    clock: Callable[[DatabaseNow, Any, Any], tuple[str, list[Any]]]
    clock_names: tuple[str, ...]
    converters: list[Any]


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs microseconds on every write
class FencedUpdate:
    """A fenced UPDATE ready to run: ``sql`` ends in ``RETURNING 1`` and the columns it set from the
    database's clock (``clock_names``, in that order)."""

    sql: str
    params: list[Any]
    clock_names: tuple[str, ...]
    converters: list[Any]

    @property
    def width(self) -> int:
        """How many columns the RETURNING clause answers."""
        return 1 + len(self.clock_names)

    def written(self, row: Sequence[Any] | None) -> dict[str, Any] | None:
        """The times the UPDATE wrote, by field name, from its RETURNING row; None when it wrote nothing
        (the fence failed)."""
        if row is None or row[0] is None:
            return None
        times = dict(zip(self.clock_names, row[1 : self.width], strict=True))
        if self.converters:  # SQLite answers text; PostgreSQL needs none
            db = connections[DEFAULT_DB_ALIAS]
            for name, value in times.items():
                for convert in self.converters:
                    value = convert(value, _NOW, db)
                times[name] = value
        return times


_NOW = DatabaseNow()
_CLOCK = "clock"
# One UPDATE statement per shape of write (the columns, and which of them take the database's clock), built
# once with what each value needs on its way to the database: the worker writes the same few shapes for
# every job.
_FENCED_SQL: dict[tuple[tuple[str, bool], ...], _FencedShape] = {}


def fenced_update(job: VideoAnalysisJob, fields: dict[str, Any]) -> FencedUpdate:
    """The UPDATE of ``fields`` WHERE the lease fence holds (``id``, ``status='processing'``,
    ``worker_id``, ``attempts``), with its parameters. A ``DatabaseNow`` value is computed in the statement,
    and returned by it. Portable SQL: it runs on SQLite too."""
    shape_key = tuple([(name, type(value) is DatabaseNow) for name, value in fields.items()])
    shape = _FENCED_SQL.get(shape_key)
    if shape is None:
        shape = _FENCED_SQL[shape_key] = _fenced_shape(shape_key)
    db = connections[DEFAULT_DB_ALIAS]
    params = []
    for prep, value in zip(shape.preps, fields.values(), strict=True):
        if prep is None:
            params.append(value)
        elif prep is _CLOCK:
            params += shape.clock(value, None, db)[1]
        else:
            assert isinstance(prep, models.Field)
            params.append(prep.get_db_prep_save(value, db))
    params += [_META.pk.get_db_prep_value(job.pk, db), Status.PROCESSING.value]
    params += [job.worker_id, job.attempts]
    return FencedUpdate(shape.sql, params, shape.clock_names, shape.converters)


def _fenced_shape(shape_key: tuple[tuple[str, bool], ...]) -> _FencedShape:
    db = connections[DEFAULT_DB_ALIAS]
    quote = db.ops.quote_name
    postgresql = is_postgresql()
    clock = DatabaseNow.as_postgresql if postgresql else DatabaseNow.as_sqlite
    clock_sql = clock(_NOW, None, db)[0]
    plain = _PLAIN_FIELDS_POSTGRES if postgresql else _PLAIN_FIELDS
    assignments = ", ".join(
        f"{quote(_field(name).column)} = {clock_sql if is_clock else '%s'}" for name, is_clock in shape_key
    )
    fence_names = ("id", "status", "worker_id", "attempts")
    fence = " AND ".join(f"{quote(_field(name).column)} = %s" for name in fence_names)
    clock_names = tuple(name for name, is_clock in shape_key if is_clock)
    returning = ", ".join(["1", *(quote(_field(name).column) for name in clock_names)])
    sql = f"UPDATE {quote(_META.db_table)} SET {assignments} WHERE {fence} RETURNING {returning}"
    preps: list[models.Field[Any, Any] | str | None] = [
        _CLOCK if is_clock else None if isinstance(_field(name), plain) else _field(name)
        for name, is_clock in shape_key
    ]
    return _FencedShape(sql, preps, clock, clock_names, db.ops.get_db_converters(_NOW))


# --- the claim (PostgreSQL) --------------------------------------------------------------------------------

# What the worker, its analyzer and its metrics read of a claimed job. The rest (``result``, which can be
# large, and timestamps the worker never looks at) is deferred: loaded on first access, if ever. Each
# timestamp returned costs a parse on every claim.
_CLAIMED = [
    field
    for field in _META.concrete_fields
    if field.name
    not in {
        "result",
        "idempotency_key",
        "verified_at",
        "run_after",
        "created_at",
        "updated_at",
        "upload_deadline",
        "finished_at",
    }
]
CLAIMED_ATTNAMES = [field.attname for field in _CLAIMED]


def _statement(template: str, **extra: str) -> str:
    """Fill a statement's ``{table}`` and ``{<field name>}`` slots with the model's quoted names."""
    names = {field.name: _q(field.column) for field in _META.concrete_fields}
    return template.format(table=_q(_META.db_table), **names, **extra)


# Every time in it is the database's: the lease ends an interval (the parameter) after the statement started.
CLAIM_SQL = _statement(
    """
UPDATE {table}
   SET {status} = {processing}, {stage} = {downloading}, {progress} = 0, {worker_id} = %s,
       {attempts} = {attempts} + 1, {lease_expires_at} = {now} + %s,
       {started_at} = {now}, {updated_at} = {now}
 WHERE {id} = (
       SELECT {id} FROM {table}
        -- A literal, not a parameter: a prepared statement's generic plan can only use the partial
        -- index (WHERE status = 'queued') when the planner sees the value itself.
        WHERE {status} = {queued} AND {run_after} <= {now}
        ORDER BY {run_after}, {created_at}
        LIMIT 1
        FOR UPDATE SKIP LOCKED)
RETURNING {returning}""",
    processing=_literal(Status.PROCESSING),
    downloading=_literal(Stage.DOWNLOADING),
    queued=_literal(Status.QUEUED),
    now=POSTGRESQL_NOW,
    returning=", ".join(_q(field.column) for field in _CLAIMED),
)

# Both UPDATEs in one statement, so one round trip and one commit. A finish that does not go through (the
# fence failed) still claims, as the worker would have anyway. The LEFT JOINs always answer one row: the
# finish's RETURNING columns (NULLs when the fence failed), then the claimed row's (NULLs when nothing was
# claimable).
_FINISH_AND_CLAIM_SQL = """
WITH finished AS ({finish}),
     claimed AS ({claim})
SELECT finished.*, claimed.* FROM (SELECT 1) AS one LEFT JOIN finished ON true LEFT JOIN claimed ON true
"""


@functools.cache
def finish_and_claim(finish_sql: str) -> str:
    """The combined statement for a fenced finish (``FencedUpdate.sql``) followed by CLAIM_SQL."""
    return _FINISH_AND_CLAIM_SQL.format(finish=finish_sql, claim=CLAIM_SQL)
