"""Endpoints: secrets in the Standard Webhooks form, signatures a stock library verifies (two during a
rotation's overlap), the per-user limit, and disabling that takes the endpoint's pending deliveries along."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from video_jobs.webhooks import endpoints
from video_jobs.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

from ..support.concurrency import race
from ..support.jobs import make_job
from ..support.webhook_helpers import finish, make_endpoint

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/cricksy"
BODY = '{"type":"ping","timestamp":"2026-01-01T00:00:00Z","data":{}}'


def test_a_secret_is_whsec_and_the_base64_of_32_random_bytes() -> None:
    secret = endpoints.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert endpoints.new_secret() != secret


def test_the_signature_headers_verify_with_the_standardwebhooks_package() -> None:
    secret = endpoints.new_secret()
    headers = endpoints.signature_headers(event_id="msg_1", body=BODY, secrets=[secret], now=timezone.now())
    assert Webhook(secret).verify(BODY, headers) == {
        "type": "ping",
        "timestamp": "2026-01-01T00:00:00Z",
        "data": {},
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoints.new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("ping", "pong"), headers)


def test_during_a_rotation_both_secrets_sign_and_each_verifies(user: Any) -> None:
    endpoint = make_endpoint(user, URL)
    old = endpoint.secret
    endpoints.rotate_secret(endpoint=endpoint)
    endpoint.refresh_from_db()
    now = timezone.now()

    assert endpoint.secret != old
    assert endpoint.previous_secret == old
    assert endpoint.previous_secret_expires_at is not None
    assert abs(endpoint.previous_secret_expires_at - (now + timedelta(hours=24))) < timedelta(minutes=1)
    secrets = endpoints.signing_secrets(endpoint, now=now)
    assert secrets == [endpoint.secret, old]
    headers = endpoints.signature_headers(event_id="msg_1", body=BODY, secrets=secrets, now=now)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(endpoint.secret).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)

    # After the overlap only the new secret signs.
    later = endpoint.previous_secret_expires_at + timedelta(seconds=1)
    assert endpoints.signing_secrets(endpoint, now=later) == [endpoint.secret]


def test_revoking_the_previous_secret_ends_the_overlap_at_once(user: Any) -> None:
    endpoint = make_endpoint(user, URL)
    old = endpoint.secret
    endpoints.rotate_secret(endpoint=endpoint)
    endpoints.revoke_previous_secret(endpoint=endpoint)

    stored = WebhookEndpoint.objects.get()
    assert (stored.previous_secret, stored.previous_secret_expires_at) == ("", None)
    now = timezone.now()
    assert endpoints.signing_secrets(stored, now=now) == [stored.secret]
    headers = endpoints.signature_headers(
        event_id="msg_1", body=BODY, secrets=endpoints.signing_secrets(stored, now=now), now=now
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(BODY, headers)


@override_settings(VIDEO_JOBS_MAX_WEBHOOK_ENDPOINTS=3)
def test_a_user_has_at_most_the_configured_number_of_endpoints(user: Any, other_user: Any) -> None:
    for index in range(3):
        make_endpoint(user, f"{URL}/{index}")
    with pytest.raises(endpoints.EndpointLimitReached, match="at most 3"):
        make_endpoint(user, URL)
    make_endpoint(other_user, URL)  # per user


@pytest.mark.postgres
@override_settings(VIDEO_JOBS_MAX_WEBHOOK_ENDPOINTS=3)
def test_concurrent_creates_never_pass_the_limit(user: Any) -> None:
    def create() -> bool:
        try:
            make_endpoint(user, URL)
        except endpoints.EndpointLimitReached:
            return False
        return True

    assert sorted(race(10, create)) == [False] * 7 + [True] * 3
    assert WebhookEndpoint.objects.count() == 3


def test_disabling_fails_the_pending_deliveries_and_says_why(user: Any) -> None:
    endpoint = make_endpoint(user, URL)
    finish(make_job(user, "processing"))
    finish(make_job(user, "processing"))
    delivered = WebhookDelivery.objects.first()
    assert delivered is not None
    WebhookDelivery.objects.filter(pk=delivered.pk).update(status=DeliveryStatus.DELIVERED)

    assert endpoints.disable_endpoint(endpoint_id=endpoint.pk, reason="it answered 410 Gone")
    assert not endpoints.disable_endpoint(endpoint_id=endpoint.pk, reason="again")  # it was off already

    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.disabled_reason) == (False, "it answered 410 Gone")
    assert endpoint.disabled_at is not None
    statuses = dict(WebhookDelivery.objects.values_list("pk", "status"))
    assert sorted(statuses.values()) == ["delivered", "failed"]
    failed = WebhookDelivery.objects.get(status="failed")
    assert (failed.next_attempt_at, failed.last_error) == (None, "endpoint disabled: it answered 410 Gone")


def test_enabling_clears_the_reason_and_the_failure_clock(user: Any) -> None:
    endpoint = make_endpoint(user, URL)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now())
    endpoints.disable_endpoint(endpoint_id=endpoint.pk, reason="no success for 5 days")

    assert endpoints.enable_endpoint(endpoint=endpoint)
    assert not endpoints.enable_endpoint(endpoint=endpoint)
    assert (endpoint.active, endpoint.disabled_reason, endpoint.disabled_at, endpoint.failing_since) == (
        True,
        "",
        None,
        None,
    )


def test_the_owner_turning_an_endpoint_off_and_on(user: Any) -> None:
    endpoint = make_endpoint(user, URL)
    finish(make_job(user, "processing"))

    endpoints.update_endpoint(endpoint=endpoint, active=False, description="paused")
    assert (endpoint.active, endpoint.disabled_reason, endpoint.description) == (
        False,
        "turned off by its owner",
        "paused",
    )
    assert WebhookDelivery.objects.get().status == "failed"

    endpoints.update_endpoint(endpoint=endpoint, active=True)
    assert (endpoint.active, endpoint.disabled_reason) == (True, "")
    with pytest.raises(TypeError):
        endpoints.update_endpoint(endpoint=endpoint, secret="whsec_mine")
