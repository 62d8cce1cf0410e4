"""The transactional outbox: events written in the same transaction as the status change that causes them.

``record_job_event`` is what the job's state transitions call, inside their transaction, right after the
guarded UPDATE moved the job. It writes one delivery row per active endpoint of the job's owner that
subscribes to the event, copying the job's body as it is at that moment; the rows commit with the status
change or not at all, so no crash can lose an event (or announce a change that rolled back). The
dispatcher (``run_webhooks``) sends them after the commit, outside any transaction.

Recording needs nothing of the API: the copy of the job is made by the database, from the columns of the
job's body fields (``models.JOB_FIELDS``). The dispatcher renders the request body from that copy at send
time (``bodies.render_body``, with the API's serializer).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from ..clock import DatabaseNow
from ..models import VideoAnalysisJob
from . import sql
from .models import EventType, WebhookDelivery, WebhookEndpoint

Status = VideoAnalysisJob.Status

# The event a transition into each status announces.
EVENT_OF_STATUS = {
    Status.QUEUED: EventType.JOB_QUEUED,
    Status.DONE: EventType.JOB_DONE,
    Status.FAILED: EventType.JOB_FAILED,
    Status.CANCELLED: EventType.JOB_CANCELLED,
}

# For a status change that writes its events in the same statement (finish-and-claim): the job's columns
# the outbox insert reads from the change's RETURNING rows, and the channel to NOTIFY.
SNAPSHOT_COLUMNS = sql.SNAPSHOT_COLUMNS
CHANNEL = sql.CHANNEL


def new_event_id() -> str:
    return "msg_" + uuid.uuid4().hex


def record_job_event(*, job: VideoAnalysisJob, event_type: EventType | str) -> int:
    """Write ``event_type`` about ``job`` for every active endpoint of its owner that subscribes to it.

    Call it inside the transaction that changed the job, after the UPDATE. One statement: an owner without
    endpoints costs one probe of a partial index and writes nothing. On PostgreSQL the dispatchers are
    NOTIFYed at commit. Returns how many deliveries were written.
    """
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError(
            "record_job_event must run inside the transaction of the job's status change"
        )
    return sql.insert_job_event(
        job_id=job.pk, event_id=new_event_id(), event_type=EventType(event_type), now=timezone.now()
    )


def job_event_from(*, source: str, event_type: EventType) -> tuple[str, list[Any]]:
    """The outbox insert of one job event, and its parameters, reading the job's row from ``source``: a
    relation of the statement it joins (an UPDATE's RETURNING rows holding SNAPSHOT_COLUMNS). The caller
    runs it inside that statement, so the event commits with the change, and NOTIFYs CHANNEL itself."""
    return sql.outbox_insert(
        source=source, source_params=[], event_id=new_event_id(), event_type=event_type, now=timezone.now()
    )


def record_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A ``ping`` event for this one endpoint (``POST .../test/``), due at the database's now (as its
    creation, which the pings' rate limit counts by)."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            event_id=new_event_id(),
            event_type=EventType.PING,
            occurred_at=timezone.now(),
            endpoint=endpoint,
            payload={"endpoint_id": str(endpoint.pk)},
            next_attempt_at=DatabaseNow(),
            created_at=DatabaseNow(),
        )
        sql.notify()
    delivery.refresh_from_db(fields=["next_attempt_at", "created_at"])
    return delivery
