"""The dispatcher against a real receiver on 127.0.0.1 that verifies every request with the standardwebhooks
package: signed deliveries, retries with one webhook-id, 410, rotation and revocation, refused addresses,
and a slow endpoint that holds up nobody else."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from django.test import override_settings
from django.utils import timezone

from video_jobs.api.serializers import JobSerializer
from video_jobs.models import VideoAnalysisJob
from video_jobs.webhooks import endpoints, outbox
from video_jobs.webhooks.dispatcher import Dispatcher
from video_jobs.webhooks.models import WebhookDelivery, WebhookEndpoint

from ..support.jobs import make_job
from ..support.waiting import wait_for
from ..support.webhook_helpers import SUMMARY, finish, make_endpoint
from ..support.webhook_receiver import Receiver, Reply

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_private")]


@pytest.fixture(autouse=True)
def _quick_retries() -> Iterator[None]:
    # Retries come back at once instead of after 5 s, 5 min...; one attempt may take half a second.
    with override_settings(VIDEO_JOBS_WEBHOOK_RETRY_SCHEDULE=[0.05] * 7, VIDEO_JOBS_WEBHOOK_TIMEOUT=0.5):
        yield


T = TypeVar("T")


@pytest.fixture
def dispatcher() -> Iterator[Dispatcher]:
    with Dispatcher(dispatcher_id="test-dispatcher", concurrency=4) as running:
        yield running


def deliver_until(dispatcher: Dispatcher, condition: Callable[[], T], what: str) -> T:
    """Run the dispatcher pass by pass (settling what finished) until ``condition`` holds."""

    def step() -> T:
        dispatcher.run_once()
        dispatcher.wait(timeout=0.1)
        return condition()

    return wait_for(step, timeout=20, what=what)


def endpoint_for(user: Any, receiver: Receiver, path: str = "/hooks") -> WebhookEndpoint:
    endpoint = make_endpoint(user, receiver.url(path))
    receiver.secrets.append(endpoint.secret)
    return endpoint


def status_of(delivery: WebhookDelivery) -> str:
    delivery.refresh_from_db()
    return delivery.status


def test_a_job_event_reaches_the_receiver_signed_with_the_job_as_it_was(
    user: Any, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    endpoint = endpoint_for(user, receiver)
    job = make_job(user, VideoAnalysisJob.Status.PROCESSING)
    finish(job)
    delivery = WebhookDelivery.objects.get()

    deliver_until(dispatcher, receiver.delivered, "the delivery")

    [received] = receiver.all()
    assert received.verified == {endpoint.secret: True}
    assert received.webhook_id == delivery.event_id
    assert abs(int(received.headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60
    assert received.event["type"] == "video_job.done"
    assert received.event["data"] == {**JobSerializer(job).data, "result": SUMMARY}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)


def test_retries_after_a_500_and_a_timeout_then_success_all_with_one_webhook_id(
    user: Any, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    endpoint_for(user, receiver)
    released = threading.Event()
    receiver.script(Reply(status=500), Reply(hold=released), Reply(status=200))
    finish(make_job(user, VideoAnalysisJob.Status.PROCESSING))
    delivery = WebhookDelivery.objects.get()

    deliver_until(dispatcher, lambda: status_of(delivery) == "delivered", "the third attempt")
    released.set()

    received = wait_for(lambda: len(receiver.all()) == 3 and receiver.all(), what="the held request to end")
    assert {request.webhook_id for request in received} == {delivery.event_id}
    assert all(all(request.verified.values()) for request in received)
    assert delivery.attempts == 3
    assert delivery.last_error == ""


def test_a_410_disables_the_endpoint_and_nothing_more_is_sent_to_it(
    user: Any, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    endpoint = endpoint_for(user, receiver)
    receiver.script(Reply(status=410))
    finish(make_job(user, VideoAnalysisJob.Status.PROCESSING))

    deliver_until(dispatcher, lambda: not WebhookEndpoint.objects.get().active, "the endpoint to be disabled")

    endpoint.refresh_from_db()
    assert endpoint.disabled_reason.startswith("it answered 410 Gone")
    assert finish(make_job(user, VideoAnalysisJob.Status.PROCESSING)) == 0
    assert not dispatcher.run_once()
    assert len(receiver.all()) == 1


def test_during_a_rotation_the_receiver_verifies_either_secret(
    user: Any, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    endpoint = endpoint_for(user, receiver)
    old = endpoint.secret
    endpoints.rotate_secret(endpoint=endpoint)
    receiver.secrets.append(endpoint.secret)
    outbox.record_ping(endpoint=endpoint)

    deliver_until(dispatcher, receiver.delivered, "the ping")

    [received] = receiver.all()
    assert received.verified == {old: True, endpoint.secret: True}
    assert len(received.signatures) == 2
    assert received.event["type"] == "ping"

    # Once the overlap ends, only the new secret signs.
    WebhookEndpoint.objects.update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    outbox.record_ping(endpoint=endpoint)
    deliver_until(dispatcher, lambda: len(receiver.delivered()) == 2, "the second ping")
    assert receiver.all()[1].verified == {old: False, endpoint.secret: True}


def test_after_the_old_secret_is_revoked_only_the_new_one_signs(
    user: Any, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    endpoint = endpoint_for(user, receiver)
    old = endpoint.secret
    endpoints.rotate_secret(endpoint=endpoint)
    receiver.secrets.append(endpoint.secret)
    endpoints.revoke_previous_secret(endpoint=endpoint)
    outbox.record_ping(endpoint=endpoint)

    deliver_until(dispatcher, receiver.delivered, "the ping")

    [received] = receiver.all()
    assert received.verified == {old: False, endpoint.secret: True}
    assert len(received.signatures) == 1


def test_an_address_refused_at_delivery_is_never_contacted_and_is_retried(
    user: Any, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    endpoint_for(user, receiver)
    finish(make_job(user, VideoAnalysisJob.Status.PROCESSING))
    delivery = WebhookDelivery.objects.get()

    with override_settings(VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE=False):
        deliver_until(
            dispatcher, lambda: status_of(delivery) == "pending" and delivery.attempts, "an attempt"
        )

    assert receiver.all() == []
    assert delivery.last_error.startswith("refused: 127.0.0.1 is a loopback address")
    assert delivery.last_status_code is None


def test_a_slow_endpoint_holds_up_no_other_endpoint(
    user: Any, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    slow = endpoint_for(user, receiver, "/slow")
    endpoint_for(user, receiver, "/fast")
    released = threading.Event()
    receiver.script(*[Reply(hold=released)] * 3, path="/slow")
    for _ in range(3):
        finish(make_job(user, VideoAnalysisJob.Status.PROCESSING))

    fast = WebhookDelivery.objects.exclude(endpoint=slow)
    deliver_until(
        dispatcher, lambda: set(fast.values_list("status", flat=True)) == {"delivered"}, "fast ones"
    )

    # Meanwhile the slow endpoint had one delivery in flight, never more.
    assert dispatcher.in_flight == 1
    assert WebhookDelivery.objects.filter(endpoint=slow, attempts__gt=0).count() == 1
    released.set()
    deliver_until(
        dispatcher,
        lambda: set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"},
        "every delivery",
    )


def test_owners_take_turns_and_each_holds_at_most_its_share(
    user: Any, other_user: Any, receiver: Receiver
) -> None:
    released = threading.Event()
    for index in range(4):
        endpoint_for(user, receiver, f"/slow/{index}")
        receiver.script(Reply(hold=released), path=f"/slow/{index}")
    finish(make_job(user, VideoAnalysisJob.Status.PROCESSING))  # four deliveries, all older than the other's
    theirs = endpoint_for(other_user, receiver, "/theirs")
    finish(make_job(other_user, VideoAnalysisJob.Status.PROCESSING))

    with Dispatcher(dispatcher_id="fair", concurrency=4, owner_concurrency=2) as dispatcher:
        try:
            dispatcher.run_once()
            # One pass: the first owner's oldest, then the other's (nothing of theirs in flight), then the
            # first owner's second; its two others wait although a sender is free.
            claimed = WebhookDelivery.objects.filter(attempts=1)
            assert claimed.filter(endpoint=theirs).count() == 1
            assert claimed.filter(endpoint__owner=user).count() == 2
            assert dispatcher.in_flight == 3
            wait_for(lambda: receiver.delivered(), what="the other owner's delivery")
        finally:
            released.set()


# Committed data, as in production: run() closes connections that left a transaction open (the test's own).
@pytest.mark.django_db(transaction=True)
def test_run_in_burst_mode_delivers_everything_due_then_returns(user: Any, receiver: Receiver) -> None:
    endpoint_for(user, receiver)
    endpoint_for(user, receiver, "/second")
    for _ in range(3):
        finish(make_job(user, VideoAnalysisJob.Status.PROCESSING))

    assert Dispatcher(burst=True, concurrency=2).run() == 0

    assert len(receiver.delivered()) == 6
    assert len({request.webhook_id for request in receiver.all()}) == 3
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
