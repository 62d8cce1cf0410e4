"""The worker's LISTEN connection (PostgreSQL): it hears each job become queued, and comes back after the
database drops it; while it cannot connect, the worker polls."""

from __future__ import annotations

import select
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from video_jobs import services
from video_jobs.daemon.wakeup import ChannelListener
from video_jobs.s3.embedded import free_port

from ..support.waiting import wait_for
from ..support.worker_support import QueueJob

pytestmark = pytest.mark.postgres


@pytest.fixture
def listener() -> Iterator[ChannelListener]:
    listening = ChannelListener(channel=services.QUEUED_CHANNEL, name="test-listener", retry_interval=60)
    yield listening
    listening.close()


def readable(fd: int, timeout: float) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


def test_each_job_that_becomes_queued_wakes_the_listener(
    listener: ChannelListener, queue_job: QueueJob
) -> None:
    fd = listener.fileno()
    assert fd is not None
    # Just connected: a job queued before LISTEN took effect was not heard, so the worker looks once more.
    assert listener.fresh
    assert not readable(fd, 0)

    queue_job(b"first")
    queue_job(b"second")

    assert readable(fd, 5)
    assert listener.drain() == 2
    assert not readable(fd, 0)


def test_the_listener_reconnects_after_the_database_drops_its_connection(
    listener: ChannelListener, queue_job: QueueJob
) -> None:
    first = listener.fileno()
    assert first is not None
    listener.fresh = False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            ["video_jobs listen test-listener"],
        )

    def reconnected() -> bool:
        # What the worker's idle loop does: the dropped connection wakes select(), and drain() finds it
        # lost (the server's farewell and the socket's end may come as two wake-ups); then it reconnects.
        if readable(first, 0.5):
            assert listener.drain() == 0
        listener.fileno()
        return listener.fresh

    wait_for(reconnected, what="the listener to reconnect")
    fd = listener.fileno()
    assert fd is not None

    queue_job(b"after the restart")
    assert readable(fd, 5)
    assert listener.drain() == 1


def test_a_listener_that_cannot_connect_leaves_the_worker_polling_until_its_retry_is_due(
    listener: ChannelListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[dict[str, Any]] = []
    real = connection.get_connection_params

    def nowhere() -> dict[str, Any]:
        params = {**real(), "port": free_port()}  # nothing listens there
        attempts.append(params)
        return params

    monkeypatch.setattr(connection, "get_connection_params", nowhere)

    assert listener.fileno() is None
    assert listener.fileno() is None  # not tried again before retry_interval has passed
    assert len(attempts) == 1
    assert not listener.fresh
