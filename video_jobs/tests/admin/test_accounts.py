"""The users' side of the admin: API tokens shown by a prefix only, never in full; job quotas staff raise."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from video_jobs.models import TOKEN_PREFIX_LENGTH, JobQuota, VideoAnalysisJob

from ..support.api_requests import initiate

pytestmark = pytest.mark.django_db

TOKENS = "/admin/video_jobs/apitoken/"
QUOTAS = "/admin/video_jobs/jobquota/"


@pytest.fixture
def token(user: Any) -> Token:
    return Token.objects.create(user=user)


def test_the_token_list_shows_a_prefix_of_each_key_never_the_key(staff: Client, token: Token) -> None:
    page = staff.get(TOKENS).content.decode()

    assert f"{token.key[:TOKEN_PREFIX_LENGTH]}…" in page
    assert token.key not in page
    assert "alice" in page


def test_drf_own_token_admin_is_gone(staff: Client, token: Token) -> None:
    assert staff.get("/admin/authtoken/tokenproxy/").status_code == 404


def test_a_token_page_shows_no_key_and_changes_nothing(staff: Client, token: Token, user: Any) -> None:
    url = f"{TOKENS}{user.pk}/change/"  # by user id, so the key is not in the URL either

    page = staff.get(url)

    assert page.status_code == 200
    assert token.key not in page.content.decode()
    assert staff.post(url, {"user": user.pk}).status_code == 403
    assert staff.get(f"{TOKENS}add/").status_code == 403


def test_revoking_a_token_never_writes_its_key_anywhere(staff: Client, token: Token, user: Any) -> None:
    url = f"{TOKENS}{user.pk}/delete/"
    confirmation = staff.get(url).content.decode()
    assert token.key not in confirmation

    response = staff.post(url, {"post": "yes"}, follow=True)

    assert not Token.objects.filter(key=token.key).exists()
    shown = " ".join(message.message for message in response.context["messages"])
    assert token.key[:TOKEN_PREFIX_LENGTH] in shown
    assert token.key not in shown
    assert token.key not in response.content.decode()
    assert all(token.key not in entry.object_repr for entry in LogEntry.objects.all())


@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=1)
def test_staff_raise_a_users_quota_in_the_admin(staff: Client, user: Any, api: APIClient) -> None:
    assert initiate(api, filename="first.mp4").status_code == 201
    assert initiate(api, filename="second.mp4").status_code == 429

    response = staff.post(f"{QUOTAS}add/", {"user": user.pk, "max_pending_uploads": 5, "max_active_jobs": ""})

    assert response.status_code == 302
    quota = JobQuota.objects.get(user=user)
    assert (quota.max_pending_uploads, quota.max_active_jobs) == (5, None)
    assert initiate(api, filename="second.mp4").status_code == 201
    page = staff.get(f"{QUOTAS}{quota.pk}/change/").content.decode()
    assert "2 of 5 pending uploads, 0 of 100 active jobs" in page


def test_a_quotas_use_counts_what_initiate_counts(staff: Client, user: Any, api: APIClient) -> None:
    # A cancelled pending upload keeps its place until its URL expires, as initiate counts it; and a limit
    # staff lowered below what the user has reads "more than" it.
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        assert initiate(api, filename=name).status_code == 201
    cancelled = VideoAnalysisJob.objects.filter(owner=user).first()
    assert cancelled is not None
    assert api.post(f"/api/video-jobs/{cancelled.pk}/cancel/").status_code == 200
    quota = JobQuota.objects.create(user=user, max_pending_uploads=2)

    page = staff.get(f"{QUOTAS}{quota.pk}/change/").content.decode()

    assert "more than 2 of 2 pending uploads, 0 of 100 active jobs" in page
    assert initiate(api, filename="d.mp4").status_code == 429  # what initiate says too
