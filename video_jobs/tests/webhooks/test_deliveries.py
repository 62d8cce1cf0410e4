"""A delivery's life: claimed once (the busy endpoints skipped), settled by a fenced UPDATE, retried on the
Svix schedule with jitter (Retry-After honoured), given up, redelivered; its endpoint disabled by a 410 or by
days without a success."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from video_jobs.clock import database_now
from video_jobs.webhooks import deliveries
from video_jobs.webhooks.deliveries import Settled
from video_jobs.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from video_jobs.webhooks.transport import AttemptKind, AttemptResult

from ..support.concurrency import race
from ..support.jobs import make_job
from ..support.webhook_helpers import finish, make_endpoint

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/cricksy"
SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]
OK = AttemptResult(AttemptKind.SUCCESS, status_code=200)
ERROR_500 = AttemptResult(AttemptKind.HTTP_ERROR, status_code=500, error="HTTP 500")


def one_delivery(user: Any, url: str = URL) -> WebhookEndpoint:
    endpoint = make_endpoint(user, url)
    finish(make_job(user, "processing"))
    return endpoint


def claim_for(*, busy_endpoints: set[Any]) -> WebhookDelivery:
    delivery = deliveries.claim_due(busy_endpoints=busy_endpoints)
    assert delivery is not None
    return delivery


def claim() -> WebhookDelivery:
    return claim_for(busy_endpoints=set())


def test_the_schedule_is_svix_s_with_twenty_percent_jitter() -> None:
    assert SCHEDULE == [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600]
    for attempt, seconds in enumerate(SCHEDULE, start=1):
        delays = {deliveries.retry_delay(attempt).total_seconds() for _ in range(20)}  # type: ignore[union-attr]
        assert all(0.8 * seconds <= delay <= 1.2 * seconds for delay in delays)
        assert len(delays) > 1  # jittered
    assert deliveries.retry_delay(len(SCHEDULE) + 1) is None


def test_retry_after_sets_a_later_retry_but_never_past_the_longest_wait() -> None:
    assert deliveries.retry_delay(1, retry_after=120) == timedelta(seconds=120)
    assert deliveries.retry_delay(1, retry_after=10**9) == timedelta(seconds=36000)
    assert deliveries.retry_delay(2, retry_after=1).total_seconds() >= 240  # type: ignore[union-attr]


def test_a_claim_counts_the_attempt_and_hides_the_delivery_until_its_lease_ends(user: Any) -> None:
    one_delivery(user)
    before = timezone.now()
    delivery = claim()

    assert delivery.attempts == 1
    assert delivery.endpoint.url == URL  # loaded with it, for the sender
    assert delivery.next_attempt_at >= before + deliveries.claim_lease()  # type: ignore[operator]
    assert deliveries.claim_due() is None
    # A dispatcher that died: once the lease ends, the delivery is due again, with the same webhook-id.
    WebhookDelivery.objects.update(next_attempt_at=database_now())
    again = claim()
    assert (again.pk, again.event_id, again.attempts) == (delivery.pk, delivery.event_id, 2)


def test_a_claim_skips_endpoints_that_are_busy(user: Any) -> None:
    busy = one_delivery(user)
    other = one_delivery(user, URL + "/other")
    assert deliveries.claim_due(busy_endpoints={busy.pk, other.pk}) is None
    assert claim_for(busy_endpoints={busy.pk}).endpoint_id == other.pk
    assert deliveries.claim_due(busy_endpoints={busy.pk}) is None
    assert claim_for(busy_endpoints=set()).endpoint_id == busy.pk


def test_a_claim_skips_owners_that_are_busy(user: Any, other_user: Any) -> None:
    one_delivery(user)
    theirs = one_delivery(other_user, URL + "/theirs")
    delivery = deliveries.claim_due(busy_owners={user.pk})
    assert delivery is not None
    assert delivery.endpoint_id == theirs.pk
    assert deliveries.claim_due(busy_owners={user.pk, other_user.pk}) is None
    assert deliveries.claim_due(busy_owners={other_user.pk}) is not None


def test_a_success_delivers_and_clears_the_endpoints_failure_clock(user: Any) -> None:
    endpoint = one_delivery(user)
    WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(days=1))
    delivery = claim()

    assert deliveries.settle(delivery=delivery, result=OK) == Settled.DELIVERED

    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code, delivery.next_attempt_at) == ("delivered", 200, None)
    assert delivery.delivered_at is not None
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_failure_is_retried_on_the_schedule(user: Any) -> None:
    endpoint = one_delivery(user)
    delivery = claim()
    before = database_now()

    assert deliveries.settle(delivery=delivery, result=ERROR_500) == Settled.RETRYING

    after = database_now()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == ("pending", 500, "HTTP 500")
    assert before + timedelta(seconds=4) <= delivery.next_attempt_at <= after + timedelta(seconds=6)  # type: ignore[operator]
    endpoint.refresh_from_db()
    assert before <= endpoint.failing_since <= after  # type: ignore[operator]


@pytest.mark.parametrize(("status", "honoured"), [(429, True), (503, True), (500, False)])
def test_retry_after_is_honoured_on_429_and_503(user: Any, status: int, honoured: bool) -> None:
    one_delivery(user)
    delivery = claim()
    result = AttemptResult(AttemptKind.HTTP_ERROR, status_code=status, retry_after=600)

    deliveries.settle(delivery=delivery, result=result)

    delivery.refresh_from_db()
    waited = (delivery.next_attempt_at - database_now()).total_seconds() + 1  # type: ignore[operator]
    assert (waited >= 600) is honoured


@override_settings(VIDEO_JOBS_WEBHOOK_RETRY_SCHEDULE=[1, 1])
def test_the_delivery_fails_when_the_schedule_runs_out(user: Any) -> None:
    one_delivery(user)
    outcomes = []
    for _ in range(3):
        WebhookDelivery.objects.filter(status="pending").update(next_attempt_at=database_now())
        outcomes.append(deliveries.settle(delivery=claim(), result=ERROR_500))
    assert outcomes == [Settled.RETRYING, Settled.RETRYING, Settled.EXHAUSTED]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)


def test_a_410_disables_the_endpoint_at_once(user: Any) -> None:
    endpoint = one_delivery(user)
    finish(make_job(user, "processing"))
    delivery = claim()

    gone = AttemptResult(AttemptKind.HTTP_ERROR, status_code=410, error="HTTP 410 Gone")
    assert deliveries.settle(delivery=delivery, result=gone) == Settled.ENDPOINT_DISABLED

    endpoint.refresh_from_db()
    assert not endpoint.active
    assert endpoint.disabled_reason.startswith("it answered 410 Gone at ")
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"failed"}


def test_an_endpoint_failing_for_five_days_without_a_success_is_disabled_with_the_reason(user: Any) -> None:
    endpoint = one_delivery(user)
    WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(days=4, hours=23))
    assert deliveries.settle(delivery=claim(), result=ERROR_500) == Settled.RETRYING
    endpoint.refresh_from_db()
    assert endpoint.active

    WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(days=5, minutes=1))
    WebhookDelivery.objects.update(next_attempt_at=database_now())
    assert deliveries.settle(delivery=claim(), result=ERROR_500) == Settled.ENDPOINT_DISABLED

    endpoint.refresh_from_db()
    assert not endpoint.active
    assert endpoint.disabled_reason.startswith("no successful delivery for 5 days (failing since ")
    assert WebhookDelivery.objects.get().status == "failed"


def test_a_settle_after_the_claim_was_taken_over_writes_nothing(user: Any) -> None:
    one_delivery(user)
    stale = claim()
    WebhookDelivery.objects.update(next_attempt_at=database_now())  # its lease ran out
    current = claim()

    assert deliveries.settle(delivery=stale, result=OK) == Settled.TAKEN_OVER
    assert WebhookDelivery.objects.get().status == "pending"
    assert deliveries.settle(delivery=current, result=OK) == Settled.DELIVERED


def test_a_delivery_claimed_for_an_endpoint_that_is_off_is_failed_without_sending(user: Any) -> None:
    endpoint = one_delivery(user)
    WebhookEndpoint.objects.update(active=False)  # turned off behind the outbox's back
    delivery = claim()
    assert not delivery.endpoint.active
    assert deliveries.discard(delivery=delivery)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("failed", "endpoint disabled: turned off by its owner")
    assert endpoint.pk == delivery.endpoint_id


def test_redeliver_sends_again_with_the_same_webhook_id_and_a_fresh_schedule(user: Any) -> None:
    endpoint = one_delivery(user)
    delivery = claim()
    deliveries.settle(delivery=delivery, result=OK)

    assert deliveries.redeliver(delivery=delivery)
    assert (delivery.status, delivery.attempts, delivery.delivered_at) == ("pending", 0, None)
    assert claim().event_id == delivery.event_id

    endpoints_off = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    endpoints_off.update(active=False)
    assert not deliveries.redeliver(delivery=delivery)


@pytest.mark.postgres
def test_concurrent_claims_take_each_delivery_once(user: Any) -> None:
    for index in range(5):
        make_endpoint(user, f"{URL}/{index}")
    for _ in range(4):
        finish(make_job(user, "processing"))
    assert WebhookDelivery.objects.count() == 20

    def claim_all() -> list[int]:
        claimed = []
        while (delivery := deliveries.claim_due()) is not None:
            claimed.append(delivery.pk)
        return claimed

    claimed = [pk for batch in race(8, claim_all) for pk in batch]
    assert sorted(claimed) == sorted(WebhookDelivery.objects.values_list("pk", flat=True))
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PENDING}
