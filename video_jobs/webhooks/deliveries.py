"""Every state change of a delivery: claim it, settle an attempt (delivered, retry later, give up), redeliver.

Numbered steps of an attempt:

1. ``claim_due`` counts the attempt and pushes ``next_attempt_at`` to the end of a claim lease, in one
   statement (SKIP LOCKED on PostgreSQL). A dispatcher that dies mid-attempt loses nothing: the delivery is
   due again when the lease ends, with the same ``webhook-id``. The endpoints and owners the dispatcher
   keeps busy are skipped (``dispatcher``: fair shares).
2. The dispatcher sends it, outside any transaction.
3. ``settle`` records the outcome with an UPDATE fenced on ``(id, attempts, status='pending')``: a
   dispatcher whose lease ran out and whose delivery was claimed again writes nothing ("another dispatcher
   got there first" is an ordinary outcome, not an error).

Every time that another process compares (when a delivery is due, its claim lease, its retry, since when
its endpoint fails) is the database's (``clock.DatabaseNow``), never the dispatcher's own: a dispatcher
whose clock runs fast neither takes a delivery another is sending nor retries one early.

A failure is retried on ``VIDEO_JOBS_WEBHOOK_RETRY_SCHEDULE`` with jitter (Retry-After on 429/503 honoured);
a 410 disables the endpoint at once; an endpoint that has failed without a success for
``VIDEO_JOBS_WEBHOOK_DISABLE_AFTER_DAYS`` is disabled, with the reason, on its next failure.
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..clock import DatabaseNow
from ..ops import metrics
from . import endpoints, sql
from .models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from .transport import AttemptKind, AttemptResult

logger = logging.getLogger(__name__)

# Counter series (exported with a ``_total`` suffix).
ATTEMPTS = "video_jobs_webhook_attempts"
DELIVERIES = "video_jobs_webhook_deliveries"

# Statuses whose Retry-After header we honour.
RETRY_AFTER_STATUSES = (429, 503)
# +-20% around each scheduled delay, so that deliveries failed together do not all come back together.
JITTER = 0.2


class Settled(enum.StrEnum):
    """How ``settle`` left a delivery. The final ones double as the deliveries metric's outcome label."""

    DELIVERED = "delivered"
    RETRYING = "retrying"
    EXHAUSTED = "exhausted"
    ENDPOINT_DISABLED = "endpoint_disabled"
    TAKEN_OVER = "taken_over"


FINAL_OUTCOMES = (Settled.DELIVERED, Settled.EXHAUSTED, Settled.ENDPOINT_DISABLED)


def claim_lease() -> timedelta:
    """How long a claimed delivery stays away from other dispatchers: two attempts' time and a margin, so
    that only a dispatcher that died (or hangs) loses its claim."""
    return timedelta(seconds=2 * float(settings.VIDEO_JOBS_WEBHOOK_TIMEOUT) + 5)


def claim_due(
    *, busy_endpoints: Collection[Any] = (), busy_owners: Collection[Any] = ()
) -> WebhookDelivery | None:
    """Claim the most overdue pending delivery to an endpoint not in ``busy_endpoints`` whose owner is not
    in ``busy_owners``, with its endpoint loaded; None when nothing is due."""
    pk = sql.claim_next_delivery(
        lease=claim_lease(), busy_endpoints=list(busy_endpoints), busy_owners=list(busy_owners)
    )
    if pk is None:
        return None
    return WebhookDelivery.objects.select_related("endpoint").get(pk=pk)


def retry_delay(attempts: int, *, retry_after: float | None = None) -> timedelta | None:
    """How long to wait after failed attempt number ``attempts``; None once the schedule is used up."""
    schedule = settings.VIDEO_JOBS_WEBHOOK_RETRY_SCHEDULE
    if attempts > len(schedule):
        return None
    seconds = schedule[max(attempts, 1) - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        # Not before the endpoint asked, but never later than the schedule's longest wait: a receiver must
        # not be able to park a delivery for ever.
        seconds = max(seconds, min(retry_after, max(schedule)))
    return timedelta(seconds=seconds)


def settle(*, delivery: WebhookDelivery, result: AttemptResult) -> Settled:
    """Record how the claimed attempt at ``delivery`` went, and what follows for it and its endpoint."""
    now = DatabaseNow()
    fence = WebhookDelivery.objects.filter(
        pk=delivery.pk, attempts=delivery.attempts, status=DeliveryStatus.PENDING
    )
    attempt = {
        "last_attempt_at": now,
        "last_status_code": result.status_code,
        "last_error": result.error[:500],
    }
    endpoint_id = delivery.endpoint_id
    with transaction.atomic():
        if result.kind == AttemptKind.SUCCESS:
            if not fence.update(
                status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None, **attempt
            ):
                return _taken_over(delivery)
            WebhookEndpoint.objects.filter(pk=endpoint_id, failing_since__isnull=False).update(
                failing_since=None
            )
            outcome = Settled.DELIVERED
        elif result.status_code == 410:
            if not fence.update(status=DeliveryStatus.FAILED, next_attempt_at=None, **attempt):
                return _taken_over(delivery)
            endpoints.disable_endpoint(
                endpoint_id=endpoint_id, reason=f"it answered 410 Gone at {timezone.now():%Y-%m-%d %H:%M} UTC"
            )
            outcome = Settled.ENDPOINT_DISABLED
        else:
            retry_after = result.retry_after if result.status_code in RETRY_AFTER_STATUSES else None
            delay = retry_delay(delivery.attempts, retry_after=retry_after)
            if delay is not None:
                moved = fence.update(next_attempt_at=DatabaseNow(delay), **attempt)
                outcome = Settled.RETRYING
            else:
                moved = fence.update(status=DeliveryStatus.FAILED, next_attempt_at=None, **attempt)
                outcome = Settled.EXHAUSTED
            if not moved:
                return _taken_over(delivery)
            if _failing_too_long(endpoint_id):
                outcome = Settled.ENDPOINT_DISABLED
    _count(result.kind, outcome)
    return outcome


def _failing_too_long(endpoint_id: Any) -> bool:
    """Note a failure of the endpoint; disable it when it has failed without a success for too long."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id)
    endpoint.update(failing_since=Coalesce("failing_since", DatabaseNow()))
    days = float(settings.VIDEO_JOBS_WEBHOOK_DISABLE_AFTER_DAYS)
    since = (
        endpoint.filter(active=True, failing_since__lte=DatabaseNow(-timedelta(days=days)))
        .values_list("failing_since", flat=True)
        .first()
    )
    if since is None:
        return False
    reason = f"no successful delivery for {days:g} days (failing since {since:%Y-%m-%d %H:%M} UTC)"
    return endpoints.disable_endpoint(endpoint_id=endpoint_id, reason=reason)


def _taken_over(delivery: WebhookDelivery) -> Settled:
    logger.warning(
        "delivery %s (%s): its claim ran out and it was settled elsewhere; result discarded",
        delivery.pk,
        delivery.event_id,
    )
    return Settled.TAKEN_OVER


def discard(*, delivery: WebhookDelivery) -> bool:
    """Fail a claimed delivery whose endpoint is off, without sending it."""
    endpoint = delivery.endpoint
    moved = (
        WebhookDelivery.objects.filter(
            pk=delivery.pk, attempts=delivery.attempts, status=DeliveryStatus.PENDING
        ).update(
            status=DeliveryStatus.FAILED,
            next_attempt_at=None,
            last_error=f"endpoint disabled: {endpoint.disabled_reason or endpoints.TURNED_OFF_BY_OWNER}"[
                :500
            ],
        )
        == 1
    )
    if moved:
        metrics.record_event(DELIVERIES, {"outcome": Settled.ENDPOINT_DISABLED.value})
    return moved


def _count(kind: AttemptKind, outcome: Settled) -> None:
    metrics.record_event(ATTEMPTS, {"result": kind.value})
    if outcome in FINAL_OUTCOMES:
        metrics.record_event(DELIVERIES, {"outcome": outcome.value})


def redeliver(*, delivery: WebhookDelivery) -> bool:
    """Send a delivery again (staff), whatever became of it, with a fresh retry schedule and its same
    webhook-id. False when its endpoint is off: enable the endpoint first."""
    with transaction.atomic():
        moved = (
            WebhookDelivery.objects.filter(pk=delivery.pk, endpoint__active=True).update(
                status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=DatabaseNow(), delivered_at=None
            )
            == 1
        )
        if moved:
            sql.notify()
    delivery.refresh_from_db()
    if moved:
        logger.info("delivery %s (%s) queued again", delivery.pk, delivery.event_id)
    return moved
