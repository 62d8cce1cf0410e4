"""Every route asks who is calling: a token or a session; anything else answers 401."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from ..support.api_requests import INITIATE

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", INITIATE),
        ("get", "/api/video-jobs/"),
        ("get", f"/api/video-jobs/{uuid.uuid4()}/"),
        ("post", f"/api/video-jobs/{uuid.uuid4()}/upload-complete/"),
        ("post", f"/api/video-jobs/{uuid.uuid4()}/cancel/"),
        ("delete", f"/api/video-jobs/{uuid.uuid4()}/"),
    ],
)
def test_unauthenticated_calls_answer_401(method: str, path: str) -> None:
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Token")


def test_a_bad_token_answers_401() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/video-jobs/").status_code == 401


def test_session_auth_works(user: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)  # a logged-in browser (the login form itself: app/test_views)
    assert client.get("/api/video-jobs/").status_code == 200
