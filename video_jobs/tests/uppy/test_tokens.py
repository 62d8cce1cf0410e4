"""The Uppy endpoint's capability token: signed, user-bound, expiring, revoked by a password change, and bound
to the session (the coaches' page) or the API token (``/api/uppy/endpoint/``) it was issued for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.sessions.backends.base import SessionBase
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from video_jobs.uppy import tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(user: Any) -> SessionBase:
    """The session of a browser logged in as ``user``, as a request to our origin brings it."""
    page = Client()
    page.force_login(user)
    return page.session


def test_a_token_names_its_user_beside_its_session(user: Any, session: SessionBase) -> None:
    token = tokens.make_token(user, session_key=str(session.session_key))

    assert tokens.user_for(token, session=session) == user
    path = tokens.endpoint_path(user, session_key=str(session.session_key))
    assert path.startswith("/api/uppy/")
    assert tokens.user_for(path.rsplit("/", 1)[1], session=session) == user


def test_a_pages_token_answers_with_no_other_session(user: Any, session: SessionBase) -> None:
    token = tokens.make_token(user, session_key=str(session.session_key))
    other = Client()
    other.force_login(user)

    assert tokens.user_for(token) is None
    assert tokens.user_for(token, session=other.session) is None


def test_a_pages_token_dies_with_its_session(user: Any, session: SessionBase) -> None:
    token = tokens.make_token(user, session_key=str(session.session_key))
    key = session.session_key

    session.flush()  # what logout does

    assert tokens.user_for(token, session=Client().session) is None
    assert tokens.user_for(token, session=type(session)(session_key=key)) is None


def test_an_api_tokens_endpoint_dies_with_the_api_token(user: Any) -> None:
    api_token = Token.objects.create(user=user)
    token = tokens.make_token(user, api_key=api_token.key)
    assert tokens.user_for(token) == user

    api_token.delete()
    Token.objects.create(user=user)  # regenerated: a new key

    assert tokens.user_for(token) is None


def test_a_token_is_bound_to_exactly_one_thing(user: Any) -> None:
    with pytest.raises(ValueError, match="bound"):
        tokens.make_token(user)
    with pytest.raises(ValueError, match="bound"):
        tokens.make_token(user, session_key="s", api_key="k")


def test_a_tampered_token_names_nobody(user: Any, session: SessionBase) -> None:
    token = tokens.make_token(user, session_key=str(session.session_key))
    forged = token.replace(token[-1], "A" if token[-1] != "A" else "B")

    assert tokens.user_for(forged, session=session) is None
    assert tokens.user_for("not-a-token", session=session) is None
    assert tokens.user_for("", session=session) is None


@override_settings(VIDEO_JOBS_UPPY_TOKEN_MAX_AGE=600)
def test_a_token_expires(user: Any, session: SessionBase) -> None:
    token = tokens.make_token(user, session_key=str(session.session_key))

    with time_machine.travel(timezone.now() + timedelta(seconds=599)):
        assert tokens.user_for(token, session=session) == user
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        assert tokens.user_for(token, session=session) is None


def test_a_password_change_revokes_earlier_tokens(user: Any) -> None:
    api_key = Token.objects.create(user=user).key
    token = tokens.make_token(user, api_key=api_key)

    user.set_password("a new password for this test")
    user.save()

    assert tokens.user_for(token) is None
    assert tokens.user_for(tokens.make_token(user, api_key=api_key)) == user


def test_an_inactive_user_holds_no_endpoint(user: Any) -> None:
    token = tokens.make_token(user, api_key=Token.objects.create(user=user).key)

    user.is_active = False
    user.save()

    assert tokens.user_for(token) is None
