"""``manage.py run_webhooks`` as real processes against PostgreSQL and a real receiver on 127.0.0.1: an event
committed by a process killed before it could send is delivered once; a dispatcher killed mid-send loses
nothing; two dispatchers deliver each event once; NOTIFY wakes an idle dispatcher within a second."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from video_jobs.models import VideoAnalysisJob
from video_jobs.webhooks.models import WebhookDelivery, WebhookEndpoint

from ..support.jobs import make_job
from ..support.waiting import wait_for
from ..support.webhook_helpers import RESULT, finish, make_endpoint
from ..support.webhook_processes import Processes, child_processes
from ..support.webhook_receiver import Receiver, Reply
from ..support.worker_processes import backends

pytestmark = pytest.mark.postgres

Status = VideoAnalysisJob.Status


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    with child_processes(tmp_path) as running:
        yield running


def endpoint_for(user: Any, receiver: Receiver, path: str = "/hooks") -> WebhookEndpoint:
    endpoint = make_endpoint(user, receiver.url(path))
    receiver.secrets.append(endpoint.secret)
    return endpoint


# The job's status change and its event in one transaction, in another process that dies right after the
# commit (or, with ROLLBACK_FIRST, inside the transaction), before anything could be sent.
FINISH_THEN_DIE = """
import json, os, signal
from django.db import transaction
from video_jobs.models import VideoAnalysisJob
from video_jobs.webhooks import outbox
job = VideoAnalysisJob.objects.get(pk=os.environ["JOB_ID"])
with transaction.atomic():
    VideoAnalysisJob.objects.filter(pk=job.pk, status="processing").update(
        status="done", stage="done", progress=100, result=json.loads(os.environ["RESULT"]))
    outbox.record_job_event(job=job, event_type="video_job.done")
    if os.environ.get("DIE_INSIDE"):
        os.kill(os.getpid(), signal.SIGKILL)
os.kill(os.getpid(), signal.SIGKILL)
"""


def finish_in_a_process_that_dies(processes: Processes, job: VideoAnalysisJob, *, inside: bool) -> None:
    env = {"JOB_ID": str(job.pk), "RESULT": json.dumps(RESULT), "DIE_INSIDE": "1" if inside else ""}
    process = processes.start("shell", "-c", FINISH_THEN_DIE, **env)
    assert process.wait(timeout=60) == -signal.SIGKILL


def test_a_process_killed_after_the_commit_loses_no_event(
    user: Any, receiver: Receiver, processes: Processes
) -> None:
    endpoint_for(user, receiver)
    job = make_job(user, Status.PROCESSING)

    finish_in_a_process_that_dies(processes, job, inside=False)

    job.refresh_from_db()
    assert job.status == Status.DONE
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert receiver.all() == []

    dispatcher = processes.dispatcher()
    wait_for(lambda: WebhookDelivery.objects.get().status == "delivered", timeout=30, what="the delivery")
    assert processes.stop(dispatcher) == 0
    [received] = receiver.all()
    assert received.webhook_id == delivery.event_id
    assert all(received.verified.values())
    assert received.event["data"]["status"] == "done"


def test_a_process_killed_inside_the_transaction_leaves_neither_change_nor_event(
    user: Any, receiver: Receiver, processes: Processes
) -> None:
    endpoint_for(user, receiver)
    job = make_job(user, Status.PROCESSING)

    finish_in_a_process_that_dies(processes, job, inside=True)

    job.refresh_from_db()
    assert job.status == Status.PROCESSING
    assert not WebhookDelivery.objects.exists()


def test_a_dispatcher_killed_mid_send_loses_nothing_and_the_retry_keeps_the_webhook_id(
    user: Any, receiver: Receiver, processes: Processes
) -> None:
    endpoint_for(user, receiver)
    released = threading.Event()
    # The first request is held unanswered (and would be a failure if it ever were answered).
    receiver.script(Reply(status=500, hold=released))
    finish(make_job(user, Status.PROCESSING))
    delivery = WebhookDelivery.objects.get()

    first = processes.dispatcher()
    wait_for(lambda: receiver.arrivals, what="the first request")
    first.kill()
    first.wait(timeout=30)
    released.set()

    second = processes.dispatcher()
    wait_for(lambda: WebhookDelivery.objects.get().status == "delivered", timeout=30, what="the redelivery")
    assert processes.stop(second) == 0

    assert receiver.arrivals == [delivery.event_id, delivery.event_id]
    [succeeded] = receiver.delivered()
    assert all(succeeded.verified.values())
    delivery.refresh_from_db()
    assert delivery.attempts == 2


def test_two_dispatchers_deliver_each_event_once(user: Any, receiver: Receiver, processes: Processes) -> None:
    secrets = {path: endpoint_for(user, receiver, path).secret for path in ("/a", "/b", "/c")}
    dispatchers = [processes.dispatcher("--concurrency", "4") for _ in range(2)]
    wait_for(lambda: len(backends("video_jobs listen %")) == 2, timeout=30, what="both dispatchers to listen")

    for _ in range(20):
        finish(make_job(user, Status.PROCESSING))

    wait_for(
        lambda: WebhookDelivery.objects.filter(status="delivered").count() == 60,
        timeout=60,
        what="60 deliveries",
    )
    assert [processes.stop(dispatcher) for dispatcher in dispatchers] == [0, 0]
    received = receiver.all()
    assert len(received) == 60
    assert set(Counter((request.webhook_id, request.path) for request in received).values()) == {1}
    assert all(request.verified[secrets[request.path]] for request in received)
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}


def test_notify_wakes_an_idle_dispatcher_within_a_second(
    user: Any, receiver: Receiver, processes: Processes
) -> None:
    endpoint_for(user, receiver)
    # Polling every 30 s: only NOTIFY can bring the delivery out within a second.
    dispatcher = processes.start("run_webhooks", "--poll-interval", "30")
    wait_for(lambda: backends("video_jobs listen %"), timeout=30, what="the dispatcher to listen")
    latencies: list[float] = []
    for _ in range(3):
        committed = time.monotonic()
        finish(make_job(user, Status.PROCESSING))
        wait_for(lambda: len(receiver.delivered()) == len(latencies) + 1, timeout=5, what="the delivery")
        latencies.append(time.monotonic() - committed)
    assert processes.stop(dispatcher) == 0
    assert max(latencies) < 1.0, latencies
