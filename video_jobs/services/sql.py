"""The worker's hot-path statements (``queries.sql``), and what they need from Python: the claim, the fenced
writes, finish-and-claim.

The statements are read once at import, with table and column names taken from the model's ``_meta``
(never typed by hand); this module fills the slots that depend on the write (which columns a fenced UPDATE
sets) and caches each composed statement, which runs as a prepared statement on PostgreSQL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models

from ..clock import POSTGRESQL_NOW, DatabaseNow
from ..db import Names, is_postgresql, literal, load_queries, quote, run_hot
from ..models import VideoAnalysisJob
from ..webhooks.sql import CHANNEL as WEBHOOKS_CHANNEL

Status = VideoAnalysisJob.Status
Stage = VideoAnalysisJob.Stage

_META = VideoAnalysisJob._meta

# The PostgreSQL channel on which a job id is announced when it becomes queued.
QUEUED_CHANNEL = "video_jobs_queued"

__all__ = ["CLAIM_SQL", "QUEUED_CHANNEL", "fenced_update", "finish_and_claim", "is_postgresql", "run_hot"]


def _field(name: str) -> models.Field[Any, Any]:
    field = _META.get_field(name)
    assert isinstance(field, models.Field)  # a concrete column, not a relation's reverse side
    return field


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

QUERIES = load_queries(
    __file__,
    job=Names(VideoAnalysisJob),
    processing=literal(Status.PROCESSING),
    downloading=literal(Stage.DOWNLOADING),
    queued=literal(Status.QUEUED),
    now=POSTGRESQL_NOW,
    claimed=", ".join(quote(field.column) for field in _CLAIMED),
    queued_channel=literal(QUEUED_CHANNEL),
    webhooks_channel=literal(WEBHOOKS_CHANNEL),
)

CLAIM_SQL = QUERIES["claim_job"]


def notify_queued(job_ids: list[object]) -> None:
    """Announce newly queued jobs on QUEUED_CHANNEL; a no-op off PostgreSQL.

    Callers send it inside the UPDATE's transaction, so PostgreSQL delivers it at commit and never for a
    rollback.
    """
    if not is_postgresql():
        return
    with connection.cursor() as cursor:
        for job_id in job_ids:
            cursor.execute(QUERIES["notify_queued"], [str(job_id)])


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
    """A fenced UPDATE ready to run: ``sql`` ends in ``RETURNING 1`` (named ``fenced``), the columns it set
    from the database's clock (``clock_names``, in that order), then any other columns asked for."""

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
_FENCED_SQL: dict[tuple[tuple[tuple[str, bool], ...], tuple[str, ...]], _FencedShape] = {}


def fenced_update(
    job: VideoAnalysisJob, fields: dict[str, Any], returning: tuple[str, ...] = ()
) -> FencedUpdate:
    """The UPDATE of ``fields`` WHERE the lease fence holds (``id``, ``status='processing'``,
    ``worker_id``, ``attempts``), with its parameters. A ``DatabaseNow`` value is computed in the statement,
    and returned by it; so are the columns ``returning`` (for a statement that reads the UPDATE's rows, such
    as finish-and-claim's outbox insert). Portable SQL: it runs on SQLite too."""
    shape_key = tuple([(name, type(value) is DatabaseNow) for name, value in fields.items()])
    shape = _FENCED_SQL.get((shape_key, returning))
    if shape is None:
        shape = _FENCED_SQL[shape_key, returning] = _fenced_shape(shape_key, returning)
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


def _fenced_shape(shape_key: tuple[tuple[str, bool], ...], also: tuple[str, ...]) -> _FencedShape:
    db = connections[DEFAULT_DB_ALIAS]
    postgresql = is_postgresql()
    clock = DatabaseNow.as_postgresql if postgresql else DatabaseNow.as_sqlite
    clock_sql = clock(_NOW, None, db)[0]
    plain = _PLAIN_FIELDS_POSTGRES if postgresql else _PLAIN_FIELDS
    assignments = ", ".join(
        f"{quote(_field(name).column)} = {clock_sql if is_clock else '%s'}" for name, is_clock in shape_key
    )
    clock_names = tuple(name for name, is_clock in shape_key if is_clock)
    # Each column once: a statement reading the rows by name could not tell two of the same name apart.
    columns = dict.fromkeys([*(str(_field(name).column) for name in clock_names), *also])
    sql = QUERIES["fenced_update"].format(
        assignments=assignments, also="".join(", " + quote(column) for column in columns)
    )
    preps: list[models.Field[Any, Any] | str | None] = [
        _CLOCK if is_clock else None if isinstance(_field(name), plain) else _field(name)
        for name, is_clock in shape_key
    ]
    return _FencedShape(sql, preps, clock, clock_names, db.ops.get_db_converters(_NOW))


# --- finish-and-claim (PostgreSQL) -------------------------------------------------------------------------


def _written(clock_names: tuple[str, ...]) -> str:
    columns = ("fenced", *(_field(name).column for name in clock_names))
    return ", ".join(f"finished.{quote(column)}" for column in columns)


@functools.cache
def finish_with_events(finish_sql: str, clock_names: tuple[str, ...], events_sql: str) -> str:
    """``finish_and_claim`` without the claim: one statement, its parameters the finish's and the insert's."""
    return QUERIES["finish_with_events"].format(
        finish=finish_sql, events=events_sql, written=_written(clock_names)
    )


@functools.cache
def finish_and_claim(finish_sql: str, clock_names: tuple[str, ...], events_sql: str) -> str:
    """The combined statement: a fenced finish (``FencedUpdate.sql`` and ``.clock_names``, made with
    ``returning`` the columns the outbox reads), the outbox insert ``events_sql`` reading from it (as
    ``finished``), then CLAIM_SQL; the webhook dispatchers are NOTIFYed when the insert wrote anything. Its
    parameters: the finish's, the insert's, the claim's."""
    return QUERIES["finish_and_claim"].format(
        finish=finish_sql, events=events_sql, written=_written(clock_names), claim=CLAIM_SQL
    )
