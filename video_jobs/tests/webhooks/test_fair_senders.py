"""Webhook senders shared fairly, proved with a real ``run_webhooks`` process on PostgreSQL: one owner's ten
endpoints that accept the connection and never answer (real sockets), with fifty deliveries due, hold at
most that owner's share of the senders, and another user's deliveries leave within a second or two."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from video_jobs.models import VideoAnalysisJob
from video_jobs.webhooks.models import WebhookDelivery

from ..support.jobs import make_job
from ..support.silent_server import SilentServer
from ..support.waiting import wait_for
from ..support.webhook_helpers import finish, make_endpoint
from ..support.webhook_processes import Processes, child_processes
from ..support.webhook_receiver import Receiver
from ..support.worker_processes import backends

pytestmark = pytest.mark.postgres

PROCESSING = VideoAnalysisJob.Status.PROCESSING
SHARE = 3


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    with child_processes(tmp_path) as running:
        yield running


def test_an_owner_whose_endpoints_never_answer_delays_no_other_owner(
    user: Any, other_user: Any, receiver: Receiver, processes: Processes
) -> None:
    with SilentServer() as silent:
        for index in range(10):
            make_endpoint(user, silent.url(f"/dead/{index}"))
        for _ in range(5):
            finish(make_job(user, PROCESSING))
        assert WebhookDelivery.objects.count() == 50
        other = make_endpoint(other_user, receiver.url())
        receiver.secrets.append(other.secret)

        processes.dispatcher(
            "--concurrency",
            "10",
            # Each dead endpoint holds its sender for the whole 10 s.
            VIDEO_JOBS_WEBHOOK_TIMEOUT="10",
            VIDEO_JOBS_WEBHOOK_OWNER_CONCURRENCY=str(SHARE),
        )
        wait_for(lambda: backends("video_jobs listen %"), timeout=30, what="the dispatcher to listen")
        assert silent.wait_until_open(SHARE, timeout=30), "the dead endpoints were never tried"

        latencies: list[float] = []
        for count in range(1, 4):
            committed = time.monotonic()
            finish(make_job(other_user, PROCESSING))
            wait_for(
                lambda n=count: len(receiver.delivered()) == n,  # type: ignore[misc]
                timeout=15,
                what="the other's delivery",
            )
            latencies.append(time.monotonic() - committed)

        assert max(latencies) < 2.0, latencies
        assert all(request.verified[other.secret] for request in receiver.all())
        # The silent owner never held more than its share, however much of it was due.
        assert silent.most_open == SHARE
