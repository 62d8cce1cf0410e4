"""The dispatcher (``manage.py run_webhooks``): claims due deliveries and sends them, signed, outside any
transaction.

The main thread owns the database: it claims, and it settles what the sender threads report. Sender
threads own the network: each renders, signs and POSTs one delivery within ``VIDEO_JOBS_WEBHOOK_TIMEOUT``,
touching no database. Several dispatchers may run anywhere: SKIP LOCKED hands each delivery to one of them.

Senders are shared fairly. At most ``concurrency`` sends are in flight, at most one per endpoint and at
most ``owner_concurrency`` (``VIDEO_JOBS_WEBHOOK_OWNER_CONCURRENCY``) per owner: the claim skips the
endpoints and the owners that are busy here. Owners take turns: a free sender goes to the most overdue
delivery of the owners with nothing in flight here, then of those with one, and so on; not to the oldest
delivery overall. So one owner's endpoints that never answer hold at most ``owner_concurrency`` senders for
one timeout each, and every other owner's deliveries leave at once.

``run_once()`` settles finished sends and starts new ones without blocking, and says whether it did either;
``wait()`` blocks until the started sends are settled (tests drive the two step by step). ``run()`` is the
daemon skeleton's loop over ``run_once()`` (``video_jobs.daemon.skeleton``: sleeping on NOTIFY, a finished
send or the poll interval, reconnecting, metrics, signals); a stop lets the sends in flight finish.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures

from django.conf import settings
from django.utils import timezone

from ..daemon.skeleton import Daemon
from . import bodies, deliveries, endpoints, sql, transport
from .models import WebhookDelivery
from .transport import AttemptKind, AttemptResult

logger = logging.getLogger(__name__)


def attempt(delivery: WebhookDelivery, *, timeout: float) -> AttemptResult:
    """One attempt at ``delivery`` (in a sender thread: no database)."""
    now = timezone.now()
    body = bodies.render_body(delivery)
    headers = endpoints.signature_headers(
        event_id=delivery.event_id,
        body=body,
        secrets=endpoints.signing_secrets(delivery.endpoint, now=now),
        now=now,
    )
    return transport.post(url=delivery.endpoint.url, body=body.encode(), headers=headers, timeout=timeout)


class Dispatcher(Daemon):
    log = logger

    def __init__(
        self,
        *,
        dispatcher_id: str | None = None,
        concurrency: int | None = None,
        owner_concurrency: int | None = None,
        poll_interval: float | None = None,
        burst: bool = False,
        listen: bool = True,
    ) -> None:
        self.dispatcher_id = dispatcher_id or f"{socket.gethostname()}:{os.getpid()}"
        super().__init__(
            name=self.dispatcher_id,
            channel=sql.CHANNEL,
            poll_interval=poll_interval,
            burst=burst,
            listen=listen,
        )
        self.concurrency = concurrency or int(settings.VIDEO_JOBS_WEBHOOK_CONCURRENCY)
        self.owner_concurrency = min(
            self.concurrency, owner_concurrency or int(settings.VIDEO_JOBS_WEBHOOK_OWNER_CONCURRENCY)
        )
        self.timeout = float(settings.VIDEO_JOBS_WEBHOOK_TIMEOUT)
        self._in_flight: dict[Future[AttemptResult], WebhookDelivery] = {}
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="webhook-send")

    # --- one pass ------------------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Settle the sends that finished, then claim due deliveries for the free slots and start them.

        Returns whether it settled or started anything.
        """
        worked = self._settle_finished() > 0
        while not self.stop_requested and len(self._in_flight) < self.concurrency:
            delivery = self._claim()
            if delivery is None:
                break
            worked = True
            if not delivery.endpoint.active:
                deliveries.discard(delivery=delivery)
                continue
            future = self._pool.submit(attempt, delivery, timeout=self.timeout)
            self._in_flight[future] = delivery
            future.add_done_callback(lambda _: self.wake())
        return worked

    def _claim(self) -> WebhookDelivery | None:
        """The next delivery for a free sender: owners with the fewest sends in flight here first (each
        owner below its share), the most overdue delivery among them."""
        sending = list(self._in_flight.values())
        busy_endpoints = {delivery.endpoint_id for delivery in sending}
        per_owner = Counter(delivery.endpoint.owner_id for delivery in sending)
        # Level n: owners with at most n sends in flight here. A level no owner is at adds nobody.
        levels = sorted({0} | {count for count in per_owner.values() if count < self.owner_concurrency})
        for level in levels:
            busy_owners = {owner for owner, count in per_owner.items() if count > level}
            delivery = deliveries.claim_due(busy_endpoints=busy_endpoints, busy_owners=busy_owners)
            if delivery is not None:
                return delivery
        return None

    def wait(self, timeout: float | None = None) -> int:
        """Block until every started send has finished (or ``timeout``), then settle; returns how many."""
        wait_for_futures(list(self._in_flight), timeout=timeout)
        return self._settle_finished()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def _settle_finished(self) -> int:
        settled = 0
        for future in [future for future in self._in_flight if future.done()]:
            delivery = self._in_flight[future]
            try:
                result = future.result()
            except Exception as exc:
                # A bug (say, in rendering) must not stop the dispatcher: the delivery is retried as usual.
                logger.exception(
                    "delivery %s (%s): attempt failed unexpectedly", delivery.pk, delivery.event_id
                )
                result = AttemptResult(
                    AttemptKind.INTERNAL_ERROR, error=f"internal error: {type(exc).__name__}"
                )
            # Settled before it leaves _in_flight: if the database is down the settle is tried again.
            outcome = deliveries.settle(delivery=delivery, result=result)
            del self._in_flight[future]
            settled += 1
            self._log(delivery, result, outcome)
        return settled

    def _log(self, delivery: WebhookDelivery, result: AttemptResult, outcome: deliveries.Settled) -> None:
        what = f"{result.status_code}" if result.status_code is not None else result.error
        level = logging.INFO if outcome == deliveries.Settled.DELIVERED else logging.WARNING
        logger.log(
            level,
            "delivery %s (%s %s, attempt %s) to endpoint %s: %s in %.2fs, %s",
            delivery.pk,
            delivery.event_type,
            delivery.event_id,
            delivery.attempts,
            delivery.endpoint_id,
            what,
            result.seconds,
            outcome,
        )

    # --- the loop ------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Deliver until stopped (a signal; with ``burst``, nothing due and nothing in flight). Returns the
        exit status: 0 after a graceful stop, which lets the sends in flight finish first."""
        code = super().run()
        logger.info("webhook dispatcher %s stopped", self.dispatcher_id)
        return code

    def starting(self) -> None:
        logger.info(
            "webhook dispatcher %s started (pid %s, %s sends at once, %s per owner, timeout %ss, poll %ss%s)",
            self.dispatcher_id,
            os.getpid(),
            self.concurrency,
            self.owner_concurrency,
            self.timeout,
            self.poll_interval,
            ", burst" if self.burst else "",
        )

    def holding_work(self) -> bool:
        return bool(self._in_flight)

    def finished(self) -> bool:
        """Once stopped, after the sends in flight: a stop claims nothing more (each send ends within the
        timeout)."""
        return self.stop_requested and not self._in_flight

    def on_stop_signal(self, name: str) -> None:
        # A second signal exits at once: the sends in flight are claimed, their claims run out and another
        # dispatcher sends them.
        logger.info(
            "%s: stopping after %s send(s) in flight (send %s again to exit now)", name, self.in_flight, name
        )

    def close(self) -> None:
        """Wait for the sender threads, drop the LISTEN connection. Idempotent."""
        if not self.closed:
            self._pool.shutdown(wait=True)
        super().close()
