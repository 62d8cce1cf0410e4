"""The webhooks' hand-tuned statements (``queries.sql``) and their parameters: the outbox insert, which also
NOTIFYs the dispatchers on PostgreSQL, and the dispatcher's claim (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
a conditional UPDATE on SQLite). Table and column names come from the models' ``_meta``."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from ..clock import POSTGRESQL_NOW, DatabaseNow
from ..db import Names, fill, is_postgresql, literal, load_queries, run_hot
from ..models import JOB_FIELDS, VideoAnalysisJob
from .models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

# The PostgreSQL channel on which the outbox announces new due deliveries (an empty payload: PostgreSQL
# folds identical notifications of one transaction into one).
CHANNEL = "video_jobs_webhooks"

# The job's columns the outbox insert reads, for a caller whose source is an UPDATE's RETURNING list.
SNAPSHOT_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        str(VideoAnalysisJob._meta.get_field(name).column)  # type: ignore[union-attr]  # concrete fields
        for name in ("id", "owner", *JOB_FIELDS)
    )
)

_JOB = Names(VideoAnalysisJob)
QUERIES = load_queries(
    __file__,
    delivery=Names(WebhookDelivery),
    endpoint=Names(WebhookEndpoint),
    job=_JOB,
    pending=literal(DeliveryStatus.PENDING),
    now=POSTGRESQL_NOW,
    channel=literal(CHANNEL),
    job_fields=", ".join(f"'{name}', j.{getattr(_JOB, name)}" for name in JOB_FIELDS if name != "result"),
)

# The outbox insert of each vendor, with its {source} slot left open.
_INSERT = {
    vendor: fill(
        QUERIES["insert_job_event"],
        payload=QUERIES[f"payload_{vendor}"],
        subscribed=QUERIES[f"subscribed_{vendor}"],
        due=QUERIES[f"due_{vendor}"],
    )
    for vendor in ("postgresql", "sqlite")
}
# Inserts built for a source, by (source, vendor): composing one cost more than running it.
_BY_SOURCE: dict[tuple[str, bool], str] = {}


def outbox_insert(
    *, source: str, source_params: list[Any], event_id: str, event_type: str, now: datetime
) -> tuple[str, list[Any]]:
    """The INSERT ... SELECT of one event's deliveries (``insert_job_event``), and its parameters.

    ``source`` is a relation holding the job's row (at least SNAPSHOT_COLUMNS), aliased ``j``: a sub-SELECT
    of the jobs table by id when called on its own after the UPDATE, or, inside one statement with the
    UPDATE, the UPDATE's RETURNING rows (a CTE: the other parts of one statement see the row as it was
    before the UPDATE). No ``RETURNING``: callers add what they need.
    """
    when = WebhookDelivery._meta.get_field("occurred_at").get_db_prep_value(now, connection)
    params = [event_id, event_type, when, when, *source_params, event_type]
    postgres = is_postgresql()
    sql = _BY_SOURCE.get((source, postgres))
    if sql is None:
        template = _INSERT["postgresql" if postgres else "sqlite"]
        sql = _BY_SOURCE[source, postgres] = template.format(source=source)
    return sql, params


def insert_job_event(*, job_id: Any, event_id: str, event_type: str, now: datetime) -> int:
    """Write the deliveries of one job event (and, on PostgreSQL, NOTIFY at commit when there are any), in
    one statement. Returns how many deliveries it wrote."""
    postgres = is_postgresql()
    insert, params = outbox_insert(
        source=QUERIES["job_by_id"],
        source_params=[VideoAnalysisJob._meta.pk.get_db_prep_value(job_id, connection)],
        event_id=event_id,
        event_type=event_type,
        now=now,
    )
    # Prepared on PostgreSQL: parsing and planning this statement cost several times its execution.
    if not postgres:
        return run_hot(insert, params)[0]
    row = run_hot(_notifying(insert), params, fetch=True)[1]
    assert row is not None  # count(*) always answers
    return int(row[0])


@functools.cache
def _notifying(insert: str) -> str:
    return QUERIES["insert_job_event_and_notify"].format(insert=insert)


def notify() -> None:
    """Wake the dispatchers at commit (PostgreSQL; elsewhere they poll)."""
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute(QUERIES["notify"])


def claim_next_delivery(*, lease: timedelta, busy_endpoints: list[Any], busy_owners: list[Any]) -> int | None:
    """Claim the most overdue pending delivery whose endpoint is not in ``busy_endpoints`` and whose owner
    is not in ``busy_owners``: count an attempt and push ``next_attempt_at`` to ``lease`` from now (if the
    claimer dies, the delivery is due again then). Returns its id, or None when nothing is due. "Now" is the
    database's.

    PostgreSQL: one statement (``claim_delivery``). SQLite: pick a candidate, then a conditional UPDATE;
    losing the race means trying the next one.
    """
    if is_postgresql():
        with connection.cursor() as cursor:
            params: list[Any] = [lease, list(busy_endpoints), list(busy_owners)]
            cursor.execute(QUERIES["claim_delivery"], params)
            row = cursor.fetchone()
        return int(row[0]) if row else None
    pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING)
    for _ in range(10):
        candidate = (
            pending.filter(next_attempt_at__lte=DatabaseNow())
            .exclude(endpoint_id__in=busy_endpoints)
            .exclude(endpoint__owner_id__in=busy_owners)
            .order_by("next_attempt_at")
            .values_list("pk", "attempts")
            .first()
        )
        if candidate is None:
            return None
        pk, attempts = candidate
        claimed = pending.filter(pk=pk, attempts=attempts, next_attempt_at__lte=DatabaseNow()).update(
            attempts=attempts + 1, next_attempt_at=DatabaseNow(lease)
        )
        if claimed:
            return int(pk)
    return None
