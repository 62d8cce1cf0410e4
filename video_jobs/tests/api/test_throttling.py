"""Per-user request rates on the API: 429 with Retry-After beyond them, counted per user."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from ..support.api_requests import initiate

pytestmark = pytest.mark.django_db


def rates(**scopes: str | None) -> override_settings:
    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": scopes}
    return override_settings(REST_FRAMEWORK=rest)


def test_a_user_beyond_the_rate_gets_429_with_retry_after(api: APIClient, other_api: APIClient) -> None:
    with rates(user="3/minute", initiate=None):
        answers = [api.get("/api/video-jobs/").status_code for _ in range(4)]
        throttled = api.get("/api/video-jobs/")
        other = other_api.get("/api/video-jobs/")

    assert answers == [200, 200, 200, 429]
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    assert other.status_code == 200  # each user has a rate of their own


def test_initiate_has_a_rate_of_its_own(api: APIClient) -> None:
    with rates(user="100/minute", initiate="2/minute"):
        created = [initiate(api, filename=f"{index}.mp4").status_code for index in range(3)]
        listed = api.get("/api/video-jobs/").status_code

    assert created == [201, 201, 429]
    assert listed == 200


def test_the_default_rates_come_from_the_settings() -> None:
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == {
        "user": "300/minute",
        "initiate": "60/minute",
    }
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] == ["video_jobs.api.throttling.UserThrottle"]


def test_unthrottled_when_the_rate_is_off(api: Any) -> None:
    with rates(user=None, initiate=None):
        assert {api.get("/api/video-jobs/").status_code for _ in range(20)} == {200}
