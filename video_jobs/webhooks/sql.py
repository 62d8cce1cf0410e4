"""The webhooks' hand-built SQL.

Two statements are tuned by hand:

* the outbox insert, ``INSERT INTO delivery ... SELECT ... FROM <the job> JOIN <its owner's active,
  subscribed endpoints>``: one statement whatever the number of endpoints, which finds no row (and writes
  nothing) for an owner without one. The job's body is copied from the job's row by the database itself,
  so the payload is the job as it is in the transaction that changed it. On PostgreSQL the same statement
  NOTIFYs the dispatchers when it inserted anything.
* the dispatcher's claim, ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)`` on PostgreSQL, a
  conditional UPDATE on SQLite.

Table and column names come from the models' ``_meta``.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from django.db import connection

from ..api.serializers import JOB_FIELDS
from ..db import is_postgresql, run_hot
from ..models import VideoAnalysisJob
from .models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

# The PostgreSQL channel on which the outbox announces new due deliveries (an empty payload: PostgreSQL
# folds identical notifications of one transaction into one).
CHANNEL = "video_jobs_webhooks"

# What a job event carries of the job's ``result`` (the rest, such as the motion timeline, can be large:
# the receiver GETs the job for it). Keys the result does not have are left out.
RESULT_SUMMARY_KEYS = ("video", "poster", "artifacts")

# The job's columns the outbox insert reads, for a caller whose source is an UPDATE's RETURNING list.
SNAPSHOT_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        str(VideoAnalysisJob._meta.get_field(name).column)  # type: ignore[union-attr]  # concrete fields
        for name in ("id", "owner", *JOB_FIELDS)
    )
)


def _q(name: str) -> str:
    return str(connection.ops.quote_name(name))


def _column(model: Any, name: str) -> str:
    return _q(model._meta.get_field(name).column)


def _snapshot(postgres: bool) -> str:
    """The expression that builds a job event's payload from the job row ``j``: the job's body (the API's
    fields), with ``result`` cut down to RESULT_SUMMARY_KEYS."""
    build = "jsonb_build_object" if postgres else "json_object"
    pairs = []
    for name in JOB_FIELDS:
        column = "j." + _column(VideoAnalysisJob, name)
        if name == "result":
            if postgres:
                keys = ", ".join(f"'{key}', {column} -> '{key}'" for key in RESULT_SUMMARY_KEYS)
            else:
                keys = ", ".join(f"'{key}', json_extract({column}, '$.{key}')" for key in RESULT_SUMMARY_KEYS)
            column = f"CASE WHEN {column} IS NULL THEN NULL ELSE {build}({keys}) END"
        pairs.append(f"'{name}', {column}")
    return f"{build}({', '.join(pairs)})"


def outbox_insert(
    *, source: str, source_params: list[Any], event_id: str, event_type: str, now: datetime
) -> tuple[str, list[Any]]:
    """The INSERT ... SELECT of one event's deliveries, and its parameters.

    ``source`` is a relation holding the job's row (at least SNAPSHOT_COLUMNS), aliased ``j``: a sub-SELECT
    of the jobs table by id when called on its own after the UPDATE, or, inside one statement with the
    UPDATE, the UPDATE's RETURNING rows (a CTE: the other parts of one statement see the row as it was
    before the UPDATE). No ``RETURNING``: callers add what they need.
    """
    when = WebhookDelivery._meta.get_field("occurred_at").get_db_prep_value(now, connection)
    params = [event_id, event_type, when, when, when, *source_params, event_type]
    return _outbox_insert_sql(source, is_postgresql()), params


@functools.cache
def _outbox_insert_sql(source: str, postgres: bool) -> str:
    # Built once per source: composing it cost more than running it.
    delivery, endpoint, job = WebhookDelivery, WebhookEndpoint, VideoAnalysisJob
    columns = ", ".join(
        _column(delivery, name)
        for name in (
            "event_id",
            "event_type",
            "occurred_at",
            "endpoint",
            "job",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "created_at",
        )
    )
    events = "e." + _column(endpoint, "events")
    if postgres:
        subscribed = f"({events} = '[]'::jsonb OR {events} @> jsonb_build_array(%s::text))"
    else:
        subscribed = (
            f"(json_array_length({events}) = 0 "
            f"OR EXISTS (SELECT 1 FROM json_each({events}) WHERE json_each.value = %s))"
        )
    return (
        f"INSERT INTO {_q(delivery._meta.db_table)} ({columns}) "
        f"SELECT %s, %s, %s, e.{_column(endpoint, 'id')}, j.{_column(job, 'id')}, {_snapshot(postgres)}, "
        f"'{DeliveryStatus.PENDING.value}', 0, %s, '', %s "
        f"FROM {source} AS j "
        f"JOIN {_q(endpoint._meta.db_table)} AS e "
        f"ON e.{_column(endpoint, 'owner')} = j.{_column(job, 'owner')} AND e.{_column(endpoint, 'active')} "
        f"WHERE {subscribed}"
    )


def insert_job_event(*, job_id: Any, event_id: str, event_type: str, now: datetime) -> int:
    """Write the deliveries of one job event (and, on PostgreSQL, NOTIFY at commit when there are any), in
    one statement. Returns how many deliveries it wrote."""
    meta = VideoAnalysisJob._meta
    postgres = is_postgresql()
    insert, params = outbox_insert(
        source=f"(SELECT * FROM {_q(meta.db_table)} WHERE {_q(meta.pk.column)} = %s)",
        source_params=[meta.pk.get_db_prep_value(job_id, connection)],
        event_id=event_id,
        event_type=event_type,
        now=now,
    )
    # Prepared on PostgreSQL: parsing and planning this statement cost several times its execution.
    if not postgres:
        return run_hot(insert, params)[0]
    row = run_hot(_notifying(insert), [*params, CHANNEL], fetch=True)[1]
    assert row is not None  # count(*) always answers
    return int(row[0])


@functools.cache
def _notifying(insert: str) -> str:
    # One pg_notify per inserted row; PostgreSQL delivers them as one at commit, and none on rollback.
    return (
        f"WITH inserted AS ({insert} RETURNING 1) "
        f"SELECT count(*) FROM (SELECT pg_notify(%s, '') FROM inserted) AS notified"
    )


def notify() -> None:
    """Wake the dispatchers at commit (PostgreSQL; elsewhere they poll)."""
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


def _claim_sql() -> str:
    d = WebhookDelivery
    return (
        f"UPDATE {_q(d._meta.db_table)} "
        f"SET {_column(d, 'attempts')} = {_column(d, 'attempts')} + 1, {_column(d, 'next_attempt_at')} = %s "
        f"WHERE {_column(d, 'id')} = ("
        f"SELECT {_column(d, 'id')} FROM {_q(d._meta.db_table)} "
        # A literal, so that the planner sees the partial index's condition.
        f"WHERE {_column(d, 'status')} = '{DeliveryStatus.PENDING.value}' "
        f"AND {_column(d, 'next_attempt_at')} <= %s AND {_column(d, 'endpoint')} <> ALL(%s) "
        f"ORDER BY {_column(d, 'next_attempt_at')} LIMIT 1 FOR UPDATE SKIP LOCKED) "
        f"RETURNING {_column(d, 'id')}"
    )


def claim_next_delivery(*, now: datetime, claim_until: datetime, busy_endpoints: list[Any]) -> int | None:
    """Claim the most overdue pending delivery whose endpoint is not in ``busy_endpoints``: count an attempt
    and push ``next_attempt_at`` to ``claim_until`` (if the claimer dies, the delivery is due again then).
    Returns its id, or None when nothing is due.

    PostgreSQL: one statement; SKIP LOCKED lets concurrent dispatchers take different rows without waiting.
    SQLite: pick a candidate, then a conditional UPDATE; losing the race means trying the next one.
    """
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute(_claim_sql(), [claim_until, now, list(busy_endpoints)])
            row = cursor.fetchone()
        return int(row[0]) if row else None
    pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING)
    for _ in range(10):
        candidate = (
            pending.filter(next_attempt_at__lte=now)
            .exclude(endpoint_id__in=busy_endpoints)
            .order_by("next_attempt_at")
            .values_list("pk", "attempts")
            .first()
        )
        if candidate is None:
            return None
        pk, attempts = candidate
        claimed = pending.filter(pk=pk, attempts=attempts, next_attempt_at__lte=now).update(
            attempts=attempts + 1, next_attempt_at=claim_until
        )
        if claimed:
            return int(pk)
    return None
