"""/api/webhook-endpoints/: register (the secret shown once), read, change, delete, rotate, ping (rate
limited per endpoint); owner scoped like jobs; at most VIDEO_JOBS_MAX_WEBHOOK_ENDPOINTS; URLs into private
networks refused as "not a public address", never saying where a name leads, within the DNS timeout."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from video_jobs.webhooks.models import WebhookDelivery, WebhookEndpoint

from ..support.hanging_resolver import hanging_resolver
from ..support.private_urls import MALFORMED, REFUSED_ADDRESSES

pytestmark = pytest.mark.django_db

BASE = "/api/webhook-endpoints/"
URL = "https://93.184.215.14/cricksy"


def register(api: APIClient, **body: Any) -> Any:
    return api.post(BASE, {"url": URL, **body}, format="json")


def test_registering_answers_the_endpoint_with_its_secret_once(api: APIClient) -> None:
    response = register(api, description="prod", events=["video_job.failed", "video_job.done"])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert (body["url"], body["description"], body["active"]) == (URL, "prod", True)
    assert body["events"] == ["video_job.done", "video_job.failed"]
    assert WebhookEndpoint.objects.get().secret == body["secret"]

    shown = api.get(f"{BASE}{body['id']}/").json()
    assert "secret" not in shown
    assert shown == {key: value for key, value in body.items() if key != "secret"}
    listed = api.get(BASE).json()
    assert [endpoint["id"] for endpoint in listed["results"]] == [body["id"]]
    assert "secret" not in listed["results"][0]


def test_an_endpoint_subscribes_to_every_event_by_default(api: APIClient) -> None:
    assert register(api).json()["events"] == []


@pytest.mark.parametrize(("url", "reason"), REFUSED_ADDRESSES)
def test_urls_into_private_networks_are_refused_at_registration_as_not_public(
    api: APIClient, url: str, reason: str
) -> None:
    response = api.post(BASE, {"url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["url"] == ["not a public address"]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(("url", "reason"), MALFORMED)
def test_malformed_urls_are_refused_at_registration_with_the_reason(
    api: APIClient, url: str, reason: str
) -> None:
    response = api.post(BASE, {"url": url}, format="json")
    assert response.status_code == 400
    assert reason in response.json()["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_the_answer_never_says_what_an_internal_name_resolves_to(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"db.internal.example": "10.20.30.40", "gone.internal.example": None}

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        address = answers[host]
        if address is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    # An internal name and one that does not exist get the same answer: not even existence leaks.
    for host in answers:
        response = api.post(BASE, {"url": f"https://{host}/hook"}, format="json")
        assert (response.status_code, response.json()["url"]) == (400, ["not a public address"])
        assert b"10.20" not in response.content
    assert not WebhookEndpoint.objects.exists()


@override_settings(VIDEO_JOBS_WEBHOOK_DNS_TIMEOUT=0.3)
def test_registration_with_a_resolver_that_never_answers_is_refused_within_the_dns_timeout(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with hanging_resolver(monkeypatch) as resolver:
        started = time.monotonic()
        response = api.post(BASE, {"url": "https://hooks.example.com/x"}, format="json")
        took = time.monotonic() - started
        assert resolver.asked == ["hooks.example.com"]
    assert (response.status_code, response.json()["url"]) == (400, ["not a public address"])
    assert 0.3 <= took < 1.5


def test_unknown_event_types_are_refused(api: APIClient) -> None:
    response = register(api, events=["video_job.done", "video_job.exploded"])
    assert response.status_code == 400
    assert "events" in response.json()


@override_settings(VIDEO_JOBS_MAX_WEBHOOK_ENDPOINTS=2)
def test_at_most_the_configured_number_of_endpoints(api: APIClient) -> None:
    assert [register(api).status_code for _ in range(2)] == [201, 201]
    response = register(api)
    assert response.status_code == 409
    assert response.json()["error_code"] == "webhook_endpoint_limit"


def test_another_users_endpoint_is_not_found(api: APIClient, other_api: APIClient) -> None:
    endpoint_id = register(api).json()["id"]
    for call in (
        lambda: other_api.get(f"{BASE}{endpoint_id}/"),
        lambda: other_api.patch(f"{BASE}{endpoint_id}/", {"description": "mine"}, format="json"),
        lambda: other_api.delete(f"{BASE}{endpoint_id}/"),
        lambda: other_api.post(f"{BASE}{endpoint_id}/rotate-secret/"),
        lambda: other_api.post(f"{BASE}{endpoint_id}/revoke-previous-secret/"),
        lambda: other_api.post(f"{BASE}{endpoint_id}/test/"),
        lambda: api.get(f"{BASE}not-a-uuid/"),
    ):
        response = call()
        assert (response.status_code, response.json()) == (
            404,
            {"error_code": "not_found", "detail": "Not found."},
        )
    assert other_api.get(BASE).json()["results"] == []
    assert WebhookEndpoint.objects.get().description == ""


def test_unauthenticated_calls_answer_401() -> None:
    assert APIClient().get(BASE).status_code == 401


def test_patch_changes_the_endpoint_and_checks_a_new_url(api: APIClient) -> None:
    endpoint_id = register(api).json()["id"]
    response = api.patch(
        f"{BASE}{endpoint_id}/",
        {"url": "https://93.184.215.15/v2", "description": "v2", "events": ["video_job.done"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["url"], response.json()["events"]) == (
        "https://93.184.215.15/v2",
        ["video_job.done"],
    )
    assert "secret" not in response.json()

    refused = api.patch(f"{BASE}{endpoint_id}/", {"url": "http://169.254.169.254/"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["url"] == ["not a public address"]
    assert api.put(f"{BASE}{endpoint_id}/", {"url": URL}, format="json").status_code == 405


def test_patch_turns_an_endpoint_off_and_on(api: APIClient) -> None:
    endpoint_id = register(api).json()["id"]
    off = api.patch(f"{BASE}{endpoint_id}/", {"active": False}, format="json").json()
    assert (off["active"], off["disabled_reason"]) == (False, "turned off by its owner")
    on = api.patch(f"{BASE}{endpoint_id}/", {"active": True}, format="json").json()
    assert (on["active"], on["disabled_reason"], on["disabled_at"]) == (True, "", None)


def test_delete_removes_the_endpoint_and_its_deliveries(api: APIClient) -> None:
    endpoint_id = register(api).json()["id"]
    api.post(f"{BASE}{endpoint_id}/test/")
    assert api.delete(f"{BASE}{endpoint_id}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert not WebhookDelivery.objects.exists()


def test_rotate_secret_shows_the_new_secret_and_when_the_old_one_stops(api: APIClient) -> None:
    created = register(api).json()
    response = api.post(f"{BASE}{created['id']}/rotate-secret/")
    assert response.status_code == 200
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["secret"] != created["secret"]
    assert body["previous_secret_expires_at"] is not None
    assert WebhookEndpoint.objects.get().previous_secret == created["secret"]


def test_revoke_previous_secret_stops_the_old_secret_at_once(api: APIClient) -> None:
    created = register(api).json()
    rotated = api.post(f"{BASE}{created['id']}/rotate-secret/").json()

    response = api.post(f"{BASE}{created['id']}/revoke-previous-secret/")
    assert response.status_code == 200
    body = response.json()
    assert body["previous_secret_expires_at"] is None
    assert "secret" not in body
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.secret, endpoint.previous_secret) == (rotated["secret"], "")
    # Again, or with nothing to revoke: the same answer.
    assert api.post(f"{BASE}{created['id']}/revoke-previous-secret/").json() == body


def test_test_queues_a_ping_for_the_endpoint(api: APIClient) -> None:
    endpoint_id = register(api).json()["id"]
    response = api.post(f"{BASE}{endpoint_id}/test/")
    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get()
    assert response.json() == {"event_id": delivery.event_id, "type": "ping"}
    assert (str(delivery.endpoint_id), delivery.event_type, delivery.status) == (
        endpoint_id,
        "ping",
        "pending",
    )


@override_settings(VIDEO_JOBS_WEBHOOK_TEST_PINGS_PER_MINUTE=3)
def test_test_pings_are_rate_limited_per_endpoint_with_retry_after(api: APIClient) -> None:
    first, second = register(api).json()["id"], register(api).json()["id"]
    assert [api.post(f"{BASE}{first}/test/").status_code for _ in range(3)] == [202, 202, 202]

    refused = api.post(f"{BASE}{first}/test/")
    assert refused.status_code == 429
    assert refused.json()["error_code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert WebhookDelivery.objects.filter(endpoint_id=first).count() == 3
    # Per endpoint: another one of the same owner still gets its pings.
    assert api.post(f"{BASE}{second}/test/").status_code == 202

    # Once the oldest ping is more than a minute old, there is room for one more.
    oldest = WebhookDelivery.objects.filter(endpoint_id=first).order_by("created_at").first()
    assert oldest is not None
    WebhookDelivery.objects.filter(pk=oldest.pk).update(created_at=oldest.created_at - timedelta(seconds=61))
    assert api.post(f"{BASE}{first}/test/").status_code == 202
    assert api.post(f"{BASE}{first}/test/").status_code == 429


def test_test_on_an_endpoint_that_is_off_answers_409(api: APIClient) -> None:
    endpoint_id = register(api).json()["id"]
    api.patch(f"{BASE}{endpoint_id}/", {"active": False}, format="json")
    response = api.post(f"{BASE}{endpoint_id}/test/")
    assert (response.status_code, response.json()["error_code"]) == (409, "webhook_endpoint_disabled")
    assert not WebhookDelivery.objects.exists()


def test_a_new_endpoint_cannot_be_created_off(api: APIClient) -> None:
    assert register(api, active=False).status_code == 400


def test_the_schema_describes_the_endpoints_api() -> None:
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = response.json()["paths"]
    assert {"get", "post"} <= set(paths[BASE])
    assert {"get", "patch", "delete"} <= set(paths[BASE + "{id}/"])
    assert "post" in paths[BASE + "{id}/rotate-secret/"]
    assert "post" in paths[BASE + "{id}/revoke-previous-secret/"]
    assert "post" in paths[BASE + "{id}/test/"]
