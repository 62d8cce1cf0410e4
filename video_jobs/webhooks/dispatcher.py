"""The dispatcher (``manage.py run_webhooks``): claims due deliveries and sends them, signed, outside any
transaction.

The main thread owns the database: it claims, and it settles what the sender threads report. Sender
threads own the network: each renders, signs and POSTs one delivery within ``VIDEO_JOBS_WEBHOOK_TIMEOUT``,
touching no database. At most ``concurrency`` sends are in flight, and at most one per endpoint (the claim
skips endpoints that are busy here), so a slow endpoint holds one thread for one timeout at a time and
never the deliveries to other endpoints. Several dispatchers may run anywhere: SKIP LOCKED hands each
delivery to one of them.

``run_once()`` settles finished sends and starts new ones without blocking, and says whether it did either;
``wait()`` blocks until the started sends are settled (tests drive the two step by step). ``run()`` loops
over them until stopped, waking on PostgreSQL NOTIFY (or polling) while idle.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from types import FrameType
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.utils import timezone

from .. import db
from ..daemon.wakeup import ChannelListener, SelfPipe, signals_handled
from ..ops import metrics
from . import deliveries, endpoints, outbox, sql, transport
from .models import WebhookDelivery
from .transport import AttemptKind, AttemptResult

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
# Seconds metric observations are held in memory before they are written (see metrics.buffered).
METRICS_FLUSH_INTERVAL = 5.0


def attempt(delivery: WebhookDelivery, *, timeout: float) -> AttemptResult:
    """One attempt at ``delivery`` (in a sender thread: no database)."""
    now = timezone.now()
    body = outbox.render_body(delivery)
    headers = endpoints.signature_headers(
        event_id=delivery.event_id,
        body=body,
        secrets=endpoints.signing_secrets(delivery.endpoint, now=now),
        now=now,
    )
    return transport.post(url=delivery.endpoint.url, body=body.encode(), headers=headers, timeout=timeout)


class Dispatcher:
    def __init__(
        self,
        *,
        dispatcher_id: str | None = None,
        concurrency: int | None = None,
        poll_interval: float | None = None,
        burst: bool = False,
        listen: bool = True,
    ) -> None:
        self.dispatcher_id = dispatcher_id or f"{socket.gethostname()}:{os.getpid()}"
        self.concurrency = concurrency or int(settings.VIDEO_JOBS_WEBHOOK_CONCURRENCY)
        self.poll_interval = poll_interval if poll_interval is not None else settings.VIDEO_JOBS_POLL_INTERVAL
        self.timeout = float(settings.VIDEO_JOBS_WEBHOOK_TIMEOUT)
        self.burst = burst
        self.listen = listen
        self.stop_requested = False
        self._in_flight: dict[Future[AttemptResult], WebhookDelivery] = {}
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="webhook-send")
        self._wake = SelfPipe()
        self._listener: ChannelListener | None = None
        self._next_flush = 0.0
        self._closed = False

    # --- one pass ------------------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Settle the sends that finished, then claim due deliveries for the free slots and start them.

        Returns whether it settled or started anything.
        """
        worked = self._settle_finished() > 0
        while not self.stop_requested and len(self._in_flight) < self.concurrency:
            busy = {delivery.endpoint_id for delivery in self._in_flight.values()}
            delivery = deliveries.claim_due(busy_endpoints=busy)
            if delivery is None:
                break
            worked = True
            if not delivery.endpoint.active:
                deliveries.discard(delivery=delivery)
                continue
            future = self._pool.submit(attempt, delivery, timeout=self.timeout)
            self._in_flight[future] = delivery
            future.add_done_callback(lambda _: self._wake.poke())
        return worked

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
        if self.listen and db.is_postgresql() and not self.burst:
            self._listener = ChannelListener(
                channel=sql.CHANNEL, name=self.dispatcher_id, retry_interval=self.poll_interval
            )
        logger.info(
            "webhook dispatcher %s started (pid %s, %s sends at once, timeout %ss, poll %ss%s)",
            self.dispatcher_id,
            os.getpid(),
            self.concurrency,
            self.timeout,
            self.poll_interval,
            ", burst" if self.burst else "",
        )
        try:
            with metrics.buffered(), signals_handled(self._wake, self._on_signal):
                self._loop()
        finally:
            self.close()
        logger.info("webhook dispatcher %s stopped", self.dispatcher_id)
        return 0

    def _loop(self) -> None:
        while True:
            if not self._in_flight:
                close_old_connections()
            try:
                if time.monotonic() >= self._next_flush:
                    self._next_flush = time.monotonic() + METRICS_FLUSH_INTERVAL
                    metrics.flush()
                worked = self.run_once()
            except DATABASE_ERRORS as exc:
                logger.warning("database unavailable (%s); retrying in %ss", exc, self.poll_interval)
                connection.close()
                self._wait(self.poll_interval)
                continue
            if not self._in_flight and (self.stop_requested or (self.burst and not worked)):
                return
            if not worked:
                self._wait(self.poll_interval)

    def _wait(self, timeout: float) -> None:
        """Sleep until a send finishes, a NOTIFY, a signal, or the timeout."""
        fds = [self._wake.fileno()]
        listen_fd = None
        if self._listener is not None:
            listen_fd = self._listener.fileno()
            if self._listener.fresh:
                self._listener.fresh = False
                return
            if listen_fd is not None:
                fds.append(listen_fd)
        ready, _, _ = select.select(fds, [], [], timeout)
        if self._wake.fileno() in ready:
            self._wake.drain()
        if self._listener is not None and listen_fd in ready:
            self._listener.drain()

    def request_stop(self) -> None:
        """Claim nothing more; the sends in flight finish (each within the timeout). Signal-handler safe."""
        self.stop_requested = True
        if not self._closed:
            self._wake.poke()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stop_requested:
            # Sends in flight are claimed: their claims run out and another dispatcher sends them.
            logger.warning("second %s: exiting now", name)
            os._exit(128 + signum)
        logger.info(
            "%s: stopping after %s send(s) in flight (send %s again to exit now)", name, self.in_flight, name
        )
        self.request_stop()

    def close(self) -> None:
        """Wait for the sender threads, drop the LISTEN connection. Idempotent."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if not self._closed:
            self._closed = True
            self._pool.shutdown(wait=True)
            self._wake.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
