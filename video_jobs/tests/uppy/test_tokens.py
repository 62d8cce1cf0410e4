"""The Uppy endpoint's capability token: signed, user-bound, expiring, revoked by a password change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone

from video_jobs.uppy import tokens

pytestmark = pytest.mark.django_db


def test_a_token_names_its_user(user: Any) -> None:
    token = tokens.make_token(user)

    assert tokens.user_for(token) == user
    assert tokens.endpoint_path(user).startswith("/api/uppy/")
    assert tokens.user_for(tokens.endpoint_path(user).rsplit("/", 1)[1]) == user


def test_a_tampered_token_names_nobody(user: Any) -> None:
    token = tokens.make_token(user)
    forged = token.replace(token[-1], "A" if token[-1] != "A" else "B")

    assert tokens.user_for(forged) is None
    assert tokens.user_for("not-a-token") is None
    assert tokens.user_for("") is None


@override_settings(VIDEO_JOBS_UPPY_TOKEN_MAX_AGE=600)
def test_a_token_expires(user: Any) -> None:
    token = tokens.make_token(user)

    with time_machine.travel(timezone.now() + timedelta(seconds=599)):
        assert tokens.user_for(token) == user
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        assert tokens.user_for(token) is None


def test_a_password_change_revokes_earlier_tokens(user: Any) -> None:
    token = tokens.make_token(user)

    user.set_password("a new password for this test")
    user.save()

    assert tokens.user_for(token) is None
    assert tokens.user_for(tokens.make_token(user)) == user


def test_an_inactive_user_holds_no_endpoint(user: Any) -> None:
    token = tokens.make_token(user)

    user.is_active = False
    user.save()

    assert tokens.user_for(token) is None
