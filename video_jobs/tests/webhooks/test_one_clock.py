"""Webhook claims and retry times on the database's clock, never a dispatcher's own: a dispatcher whose
clock runs 30 s fast writes leases and retries by the database's time, events recorded by a fast process
are due at once, and a fast dispatcher never takes a delivery that another dispatcher is sending (in this
process with time-machine, and as a real ``run_webhooks`` process on PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.test import override_settings

from video_jobs.clock import database_now
from video_jobs.models import VideoAnalysisJob
from video_jobs.webhooks import deliveries, outbox
from video_jobs.webhooks.deliveries import Settled
from video_jobs.webhooks.dispatcher import Dispatcher
from video_jobs.webhooks.models import WebhookDelivery
from video_jobs.webhooks.transport import AttemptKind, AttemptResult

from ..support.jobs import make_job
from ..support.waiting import wait_for
from ..support.webhook_helpers import finish, make_endpoint
from ..support.webhook_processes import Processes, child_processes
from ..support.webhook_receiver import Receiver, Reply
from ..support.worker_processes import backends

SKEW = 30.0
# A claim lease of 2 * 10 + 5 = 25 s: shorter than the skew, as with the default timeout.
TIMEOUT = 10


def seconds_from_database_now(moment: datetime | None) -> float:
    assert moment is not None
    return (moment - database_now()).total_seconds()


@pytest.mark.django_db
@override_settings(VIDEO_JOBS_WEBHOOK_TIMEOUT=TIMEOUT, VIDEO_JOBS_WEBHOOK_RETRY_SCHEDULE=[5, 300])
def test_a_fast_dispatcher_claims_and_retries_by_the_database_clock(user: Any) -> None:
    endpoint = make_endpoint(user, "https://hooks.example.com/x")
    outbox.record_ping(endpoint=endpoint)
    claimed = deliveries.claim_due()
    assert claimed is not None

    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=SKEW), tick=True):
        # Another dispatcher's claim, 25 s long, is not over for this one, 30 s fast.
        assert deliveries.claim_due() is None
        # Its retry is five seconds from the database's now, not from its own.
        error = AttemptResult(AttemptKind.HTTP_ERROR, status_code=500, error="HTTP 500")
        assert deliveries.settle(delivery=claimed, result=error) == Settled.RETRYING
        claimed.refresh_from_db()
        assert 3.5 <= seconds_from_database_now(claimed.next_attempt_at) <= 6.0

        # Its own claims last the lease, by the database's clock.
        WebhookDelivery.objects.update(next_attempt_at=database_now())
        again = deliveries.claim_due()
        assert again is not None
        assert 23.0 <= seconds_from_database_now(again.next_attempt_at) <= 25.0


@pytest.mark.django_db
def test_events_recorded_by_a_fast_process_are_due_at_once(user: Any) -> None:
    endpoint = make_endpoint(user, "https://hooks.example.com/x")
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=SKEW), tick=True):
        outbox.record_ping(endpoint=endpoint)
        finish(make_job(user, VideoAnalysisJob.Status.PROCESSING))
    for delivery in WebhookDelivery.objects.all():
        assert seconds_from_database_now(delivery.next_attempt_at) <= 0.0
    assert deliveries.claim_due() is not None
    assert deliveries.claim_due(busy_endpoints={endpoint.pk}) is None
    assert deliveries.claim_due() is not None


@pytest.mark.postgres
@override_settings(VIDEO_JOBS_WEBHOOK_TIMEOUT=TIMEOUT, VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE=True)
def test_a_dispatcher_30s_fast_never_takes_a_delivery_another_is_sending(
    user: Any, receiver: Receiver, tmp_path: Path
) -> None:
    held = make_endpoint(user, receiver.url("/held"))
    other = make_endpoint(user, receiver.url("/other"))
    released = threading.Event()
    receiver.script(Reply(hold=released), path="/held")

    with child_processes(tmp_path) as processes, Dispatcher(dispatcher_id="on-time", listen=False) as on_time:
        try:
            fast = start_fast_dispatcher(processes)
            wait_for(lambda: backends("video_jobs listen %"), timeout=30, what="the fast one to listen")

            # The on-time dispatcher claims the ping in the transaction that records it: the fast one never
            # sees it unclaimed. Then it sends it, and the receiver holds the request.
            with transaction.atomic():
                sending = outbox.record_ping(endpoint=held)
                on_time.run_once()
            wait_for(lambda: sending.event_id in receiver.arrivals, what="the on-time dispatcher's request")

            # The fast dispatcher works meanwhile: it delivers a later ping, in a pass that saw the first
            # one's claim, 25 s long, already over by its own clock.
            later = outbox.record_ping(endpoint=other)
            wait_for(lambda: later.event_id in receiver.arrivals, timeout=30, what="the fast one's delivery")

            assert receiver.arrivals.count(sending.event_id) == 1
            sending.refresh_from_db()
            assert (sending.status, sending.attempts) == ("pending", 1)
            assert processes.stop(fast) == 0
        finally:
            released.set()
        on_time.wait(timeout=30)
    sending.refresh_from_db()
    assert (sending.status, sending.attempts) == ("delivered", 1)


def start_fast_dispatcher(processes: Processes) -> Any:
    return processes.dispatcher(clock_offset=str(SKEW), VIDEO_JOBS_WEBHOOK_TIMEOUT=str(TIMEOUT))
