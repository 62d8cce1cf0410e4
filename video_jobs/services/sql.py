"""The hot path's statements (``queries.sql``), and what they need from Python: the worker's claim, fenced
writes and finish-and-claim; initiate's quota check and its INSERT.

The statements are read once at import, with table and column names taken from the model's ``_meta``
(never typed by hand); this module fills the slots that depend on the write (which columns a fenced UPDATE
sets) and caches each composed statement, which runs as a prepared statement on PostgreSQL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection, connections, models

from ..clock import POSTGRESQL_NOW, DatabaseNow, rendered
from ..db import Names, RowLoader, is_postgresql, literal, load_queries, quote, run_hot
from ..models import GIVEN_UP_STATUSES, JobQuota, UploadTombstone, VideoAnalysisJob
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
# A claimed row into the job: those columns, the rest deferred.
CLAIMED = RowLoader(VideoAnalysisJob, fields=_CLAIMED)

QUERIES = load_queries(
    __file__,
    job=Names(VideoAnalysisJob),
    processing=literal(Status.PROCESSING),
    downloading=literal(Stage.DOWNLOADING),
    queued=literal(Status.QUEUED),
    now=POSTGRESQL_NOW,
    claimed=CLAIMED.columns,
    queued_channel=literal(QUEUED_CHANNEL),
    webhooks_channel=literal(WEBHOOKS_CHANNEL),
    # Initiate's quota check
    user=Names(get_user_model()),
    quota=Names(JobQuota),
    tombstone=Names(UploadTombstone),
    awaiting_upload=literal(Status.AWAITING_UPLOAD),
    active=", ".join(literal(status) for status in (Status.QUEUED, Status.PROCESSING)),
    given_up=", ".join(literal(status) for status in GIVEN_UP_STATUSES),
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


# --- the writes: the fenced UPDATE, initiate's INSERT -----------------------------------------------------

# Values of these pass to the driver as they are: str, int, None (and on PostgreSQL, datetimes).
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField)
_PLAIN_FIELDS_POSTGRES = (*_PLAIN_FIELDS, models.DateTimeField)
_NOW = DatabaseNow()
_CLOCK = "clock"
# The columns a write sets, in order, each with whether its value is the database's clock (a DatabaseNow).
ShapeKey = tuple[tuple[str, bool], ...]


def _times(names: tuple[str, ...], values: Sequence[Any], converters: list[Any]) -> dict[str, Any]:
    """The times a write set from the clock, by field name, from its RETURNING columns."""
    times = dict(zip(names, values, strict=True))
    if converters:  # SQLite answers text; PostgreSQL needs none
        db = connections[DEFAULT_DB_ALIAS]
        for name, value in times.items():
            for convert in converters:
                value = convert(value, _NOW, db)
            times[name] = value
    return times


@dataclass(frozen=True)
class _Shape:
    """A write's statement, built once per shape (its columns, and which take the clock), with what each
    value needs on its way to the database: the service writes the same few shapes over and over."""

    sql: str
    # Per column: None (the value as it is), the model field (its get_db_prep_save), or _CLOCK (a
    # DatabaseNow, rendered for the database: ``postgresql``).
    preps: list[models.Field[Any, Any] | str | None]
    postgresql: bool
    clock_names: tuple[str, ...]
    converters: list[Any]

    def params(self, values: Iterable[Any]) -> list[Any]:
        db = connections[DEFAULT_DB_ALIAS]
        params = []
        for prep, value in zip(self.preps, values, strict=True):
            if prep is None:
                params.append(value)
            elif prep is _CLOCK:
                params += rendered(value, postgresql=self.postgresql)[1]
            else:
                assert isinstance(prep, models.Field)
                params.append(prep.get_db_prep_save(value, db))
        return params


def _shape(shape_key: ShapeKey, statement: Callable[[list[str], str], str]) -> _Shape:
    """The shape of a write of ``shape_key``; ``statement`` makes its SQL from the columns' quoted names and
    the clock's SQL."""
    db = connections[DEFAULT_DB_ALIAS]
    postgresql = is_postgresql()
    plain = _PLAIN_FIELDS_POSTGRES if postgresql else _PLAIN_FIELDS
    preps: list[models.Field[Any, Any] | str | None] = [
        _CLOCK if is_clock else None if isinstance(_field(name), plain) else _field(name)
        for name, is_clock in shape_key
    ]
    columns = [quote(_field(name).column) for name, _ in shape_key]
    return _Shape(
        statement(columns, rendered(_NOW, postgresql=postgresql)[0]),
        preps,
        postgresql,
        tuple(name for name, is_clock in shape_key if is_clock),
        db.ops.get_db_converters(_NOW),
    )


def _shape_key(fields: dict[str, Any]) -> ShapeKey:
    return tuple([(name, type(value) is DatabaseNow) for name, value in fields.items()])


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
        return _times(self.clock_names, row[1 : self.width], self.converters)


_FENCED_SQL: dict[tuple[ShapeKey, tuple[str, ...]], _Shape] = {}


def fenced_update(
    job: VideoAnalysisJob, fields: dict[str, Any], returning: tuple[str, ...] = ()
) -> FencedUpdate:
    """The UPDATE of ``fields`` WHERE the lease fence holds (``id``, ``status='processing'``,
    ``worker_id``, ``attempts``), with its parameters. A ``DatabaseNow`` value is computed in the statement,
    and returned by it; so are the columns ``returning`` (for a statement that reads the UPDATE's rows, such
    as finish-and-claim's outbox insert). Portable SQL: it runs on SQLite too."""
    shape_key = _shape_key(fields)
    shape = _FENCED_SQL.get((shape_key, returning))
    if shape is None:
        shape = _FENCED_SQL[shape_key, returning] = _fenced_shape(shape_key, returning)
    db = connections[DEFAULT_DB_ALIAS]
    params = shape.params(fields.values())
    params += [_META.pk.get_db_prep_value(job.pk, db), Status.PROCESSING.value]
    params += [job.worker_id, job.attempts]
    return FencedUpdate(shape.sql, params, shape.clock_names, shape.converters)


def _fenced_shape(shape_key: ShapeKey, also: tuple[str, ...]) -> _Shape:
    clock_names = [name for name, is_clock in shape_key if is_clock]
    # Each column once: a statement reading the rows by name could not tell two of the same name apart.
    returned = dict.fromkeys([*(str(_field(name).column) for name in clock_names), *also])

    def statement(columns: list[str], clock_sql: str) -> str:
        assignments = ", ".join(
            f"{column} = {clock_sql if is_clock else '%s'}"
            for column, (_, is_clock) in zip(columns, shape_key, strict=True)
        )
        also_sql = "".join(", " + quote(column) for column in returned)
        return QUERIES["fenced_update"].format(assignments=assignments, also=also_sql)

    return _shape(shape_key, statement)


_INSERT_SQL: dict[ShapeKey, _Shape] = {}


def insert_job(job: VideoAnalysisJob) -> None:
    """INSERT the new ``job``, every column: those whose value is a ``DatabaseNow`` are computed by the
    database and returned by the same statement, and ``job`` takes the times it wrote. One round trip, as
    the ORM's save() and a read-back of the times took two. Portable SQL: it runs on SQLite too."""
    fields = {field.name: getattr(job, field.attname) for field in _META.concrete_fields}
    shape_key = _shape_key(fields)
    shape = _INSERT_SQL.get(shape_key)
    if shape is None:
        shape = _INSERT_SQL[shape_key] = _insert_shape(shape_key)
    _, row = run_hot(shape.sql, shape.params(fields.values()), fetch=True)
    assert row is not None  # an INSERT that raised nothing returns its row
    for name, value in _times(shape.clock_names, row, shape.converters).items():
        setattr(job, name, value)
    job._state.adding = False  # saved: a later save() is an UPDATE, as after the ORM's own INSERT
    job._state.db = DEFAULT_DB_ALIAS


def _insert_shape(shape_key: ShapeKey) -> _Shape:
    def statement(columns: list[str], clock_sql: str) -> str:
        values = [clock_sql if is_clock else "%s" for _, is_clock in shape_key]
        returning = [column for column, (_, is_clock) in zip(columns, shape_key, strict=True) if is_clock]
        return QUERIES["insert_job"].format(
            columns=", ".join(columns), values=", ".join(values), returning=", ".join(returning)
        )

    return _shape(shape_key, statement)


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
