"""Staff see endpoints and deliveries (never a secret) and replay: "Redeliver" and "Re-enable endpoint"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from video_jobs.webhooks import deliveries, endpoints
from video_jobs.webhooks.models import WebhookDelivery, WebhookEndpoint
from video_jobs.webhooks.transport import AttemptKind, AttemptResult

from ..support.jobs import make_job
from ..support.webhook_helpers import finish, make_endpoint

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/cricksy"
DELIVERIES = "/admin/video_jobs/webhookdelivery/"
ENDPOINTS = "/admin/video_jobs/webhookendpoint/"


@pytest.fixture
def staff(client: Client, django_user_model: Any) -> Client:
    client.force_login(django_user_model.objects.create_superuser(username="ops", password="pw-ops-123"))
    return client


@pytest.fixture
def failed_delivery(user: Any) -> WebhookDelivery:
    make_endpoint(user, URL)
    finish(make_job(user, "processing"))
    delivery = deliveries.claim_due()
    assert delivery is not None
    deliveries.settle(
        delivery=delivery, result=AttemptResult(AttemptKind.HTTP_ERROR, status_code=503, error="HTTP 503")
    )
    delivery.refresh_from_db()
    return delivery


def test_the_deliveries_list_shows_event_endpoint_status_attempts_last_answer_and_next_attempt(
    staff: Client, failed_delivery: WebhookDelivery
) -> None:
    page = staff.get(DELIVERIES).content.decode()
    for column in ("Event type", "Event id", "Endpoint", "Status", "Attempts", "Last status code"):
        assert column in page
    assert "Last attempt at" in page
    assert "Next attempt at" in page
    assert failed_delivery.event_id in page
    assert "video_job.done" in page
    assert "503" in page
    assert URL in page


def test_no_page_shows_a_secret(staff: Client, failed_delivery: WebhookDelivery) -> None:
    endpoint = failed_delivery.endpoint
    endpoints.rotate_secret(endpoint=endpoint)
    pages = [
        staff.get(ENDPOINTS),
        staff.get(f"{ENDPOINTS}{endpoint.pk}/change/"),
        staff.get(DELIVERIES),
        staff.get(f"{DELIVERIES}{failed_delivery.pk}/change/"),
    ]
    for response in pages:
        assert response.status_code == 200
        text = response.content.decode()
        assert endpoint.secret not in text
        assert endpoint.previous_secret not in text
        assert "whsec_" not in text


def test_redeliver_queues_the_delivery_again(staff: Client, failed_delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.update(status="failed", next_attempt_at=None)
    response = staff.post(
        DELIVERIES, {"action": "redeliver", "_selected_action": [failed_delivery.pk]}, follow=True
    )
    assert "queued to be sent again" in response.content.decode()
    failed_delivery.refresh_from_db()
    assert (failed_delivery.status, failed_delivery.attempts) == ("pending", 0)


def test_redeliver_skips_a_delivery_whose_endpoint_is_off(
    staff: Client, failed_delivery: WebhookDelivery
) -> None:
    endpoints.disable_endpoint(endpoint_id=failed_delivery.endpoint_id, reason="it answered 410 Gone")
    response = staff.post(
        DELIVERIES, {"action": "redeliver", "_selected_action": [failed_delivery.pk]}, follow=True
    )
    assert "its endpoint is off" in response.content.decode()
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == "failed"


def test_the_endpoints_list_shows_why_an_endpoint_is_off_and_re_enable_turns_it_on(
    staff: Client, failed_delivery: WebhookDelivery
) -> None:
    endpoint = failed_delivery.endpoint
    endpoints.disable_endpoint(endpoint_id=endpoint.pk, reason="no successful delivery for 5 days")
    assert "no successful delivery for 5 days" in staff.get(ENDPOINTS).content.decode()

    response = staff.post(
        ENDPOINTS, {"action": "reenable_endpoints", "_selected_action": [endpoint.pk]}, follow=True
    )

    assert "re-enabled" in response.content.decode()
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.disabled_reason) == (True, "")
    assert WebhookEndpoint.objects.filter(active=True).count() == 1
