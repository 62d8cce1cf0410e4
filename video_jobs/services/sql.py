"""The hand-built PostgreSQL statements of the worker's hot path.

The claim, the fenced writes and finish-and-claim run once or twice per job; compiling them through the
ORM each time cost more than their round trip, so they are written here once, with table and column names
taken from the model's ``_meta`` (never typed by hand), and run as prepared statements on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models

from ..db import is_postgresql, run_hot
from ..models import VideoAnalysisJob

Status = VideoAnalysisJob.Status
Stage = VideoAnalysisJob.Stage

_META = VideoAnalysisJob._meta

# The PostgreSQL channel on which a job id is announced when it becomes queued.
QUEUED_CHANNEL = "video_jobs_queued"

__all__ = ["CLAIM_SQL", "QUEUED_CHANNEL", "fenced_update", "finish_and_claim", "is_postgresql", "run_hot"]


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


# --- the fenced write --------------------------------------------------------------------------------------

# One UPDATE statement per set of columns written, built once with the fields whose values need Django's
# conversion for the database: the worker writes the same few shapes for every job.
_FENCED_SQL: dict[tuple[str, ...], tuple[str, list[models.Field[Any, Any] | None]]] = {}
# Values of these pass to the driver as they are: str, int, None, and on PostgreSQL the aware datetimes
# the worker writes (timezone.now() and sums of it).
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField)
_PLAIN_FIELDS_POSTGRES = (*_PLAIN_FIELDS, models.DateTimeField)


def fenced_update(job: VideoAnalysisJob, fields: dict[str, Any]) -> tuple[str, list[Any]]:
    """The UPDATE of ``fields`` WHERE the lease fence holds (``id``, ``status='processing'``,
    ``worker_id``, ``attempts``), with its parameters. Portable SQL: it runs on SQLite too."""
    names = tuple(fields)
    compiled = _FENCED_SQL.get(names)
    if compiled is None:
        quote = connection.ops.quote_name
        assignments = ", ".join(f"{quote(_field(name).column)} = %s" for name in names)
        fence_names = ("id", "status", "worker_id", "attempts")
        fence = " AND ".join(f"{quote(_field(name).column)} = %s" for name in fence_names)
        sql = f"UPDATE {quote(_META.db_table)} SET {assignments} WHERE {fence}"
        plain = _PLAIN_FIELDS_POSTGRES if is_postgresql() else _PLAIN_FIELDS
        preps = [None if isinstance(field, plain) else field for field in map(_field, names)]
        compiled = _FENCED_SQL[names] = (sql, preps)
    sql, preps = compiled
    db = connections[DEFAULT_DB_ALIAS]
    params = [
        value if prep is None else prep.get_db_prep_save(value, db)
        for prep, value in zip(preps, fields.values(), strict=True)
    ]
    params += [_META.pk.get_db_prep_value(job.pk, db), Status.PROCESSING.value]
    params += [job.worker_id, job.attempts]
    return sql, params


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


CLAIM_SQL = _statement(
    """
UPDATE {table}
   SET {status} = {processing}, {stage} = {downloading}, {progress} = 0, {worker_id} = %s,
       {attempts} = {attempts} + 1, {lease_expires_at} = %s, {started_at} = %s, {updated_at} = %s
 WHERE {id} = (
       SELECT {id} FROM {table}
        -- A literal, not a parameter: a prepared statement's generic plan can only use the partial
        -- index (WHERE status = 'queued') when the planner sees the value itself.
        WHERE {status} = {queued} AND {run_after} <= %s
        ORDER BY {run_after}, {created_at}
        LIMIT 1
        FOR UPDATE SKIP LOCKED)
RETURNING {returning}""",
    processing=_literal(Status.PROCESSING),
    downloading=_literal(Stage.DOWNLOADING),
    queued=_literal(Status.QUEUED),
    returning=", ".join(_q(field.column) for field in _CLAIMED),
)

# Both UPDATEs in one statement, so one round trip and one commit. A finish that does not go through (the
# fence failed) still claims, as the worker would have anyway. The LEFT JOIN always answers one row: the
# finish's row count, then the claimed row's columns (NULLs when nothing was claimable).
#
# The finish also writes its webhook deliveries (the outbox insert, ``events``), reading the job from the
# finish's RETURNING rows: every other part of one statement sees the row as it was before the UPDATE. The
# second column NOTIFYs the webhook dispatchers (at commit) when there were any.
_FINISH_AND_CLAIM_SQL = """
WITH finished AS ({finish} RETURNING {returning}),
     events AS ({events} RETURNING 1),
     claimed AS ({claim})
SELECT (SELECT count(*) FROM finished),
       (SELECT count(*) FROM (SELECT pg_notify({channel}, '') FROM events) AS notified),
       claimed.*
  FROM (SELECT 1) AS one LEFT JOIN claimed ON true
"""


# A finish on its own (an idle worker's, or its last): the same, without the claim.
_FINISH_SQL = """
WITH finished AS ({finish} RETURNING {returning}),
     events AS ({events} RETURNING 1)
SELECT (SELECT count(*) FROM finished),
       (SELECT count(*) FROM (SELECT pg_notify({channel}, '') FROM events) AS notified)
"""


def finish_with_events(finish_sql: str, events_sql: str, returning: tuple[str, ...], channel: str) -> str:
    """``finish_and_claim`` without the claim: one statement, its parameters the finish's and the insert's."""
    return _FINISH_SQL.format(
        finish=finish_sql,
        returning=", ".join(map(_q, returning)),
        events=events_sql,
        channel=_literal(channel),
    )


def finish_and_claim(finish_sql: str, events_sql: str, returning: tuple[str, ...], channel: str) -> str:
    """The combined statement: a fenced finish (``fenced_update``'s SQL) returning ``returning``, the outbox
    insert ``events_sql`` reading from it (as ``finished``), then CLAIM_SQL; ``channel`` is NOTIFYed when
    the insert wrote anything. Its parameters: the finish's, the insert's, the claim's."""
    return _FINISH_AND_CLAIM_SQL.format(
        finish=finish_sql,
        returning=", ".join(map(_q, returning)),
        events=events_sql,
        claim=CLAIM_SQL,
        channel=_literal(channel),
    )
