"""The capability that stands in for a session cookie and a CSRF token on the Uppy routes.

A stock ``@uppy/aws-s3`` (version 6) talks to its Companion endpoint with bare ``fetch`` calls: it can send
neither ``Authorization`` nor ``X-CSRFToken``. So the endpoint itself carries the credential, as a path
segment: ``/api/uppy/<token>``. The token is signed by the server (no database row), names its user, and
expires after ``VIDEO_JOBS_UPPY_TOKEN_MAX_AGE`` seconds; it is bound to the user's session auth hash, so a
password change revokes every token issued before it. A page on another site cannot learn it, which is what
CSRF protection needs.

It is also bound to what it was issued for, and dies with it:

- the coaches' page's token to the page's session (a digest of its key): Uppy's requests to our own origin
  carry the session cookie, and a token answers only beside the very session it was made for, still logged
  in as its user. Logout ends the session, and with it the token; a token copied out of a log or a history
  is no use without that cookie.
- a token from ``/api/uppy/endpoint/`` called with an API token, to that API token (a digest of its key):
  deleting or regenerating the API token revokes it.

The token still sits in URLs, so the logs never show it (``redaction``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework.authtoken.models import Token

_SALT = "video_jobs.uppy.endpoint"
# Enough of the session auth hash (an HMAC of the password hash) to notice that it changed.
_HASH_CHARS = 16


def _fingerprint(user: AbstractBaseUser) -> str:
    return user.get_session_auth_hash()[:_HASH_CHARS]


def _digest(kind: str, secret: str) -> str:
    """What a token says of the session or API token it is bound to: a keyed digest, never the key."""
    return kind + salted_hmac(_SALT, f"{kind}:{secret}").hexdigest()[:_HASH_CHARS]


def make_token(user: AbstractBaseUser, *, session_key: str = "", api_key: str = "") -> str:
    """A token for ``user``'s Uppy endpoint, valid for ``VIDEO_JOBS_UPPY_TOKEN_MAX_AGE`` seconds, bound to
    the session whose key is ``session_key`` or to the API token ``api_key`` (exactly one of them)."""
    if bool(session_key) == bool(api_key):
        raise ValueError("an Uppy token is bound to one session or to one API token")
    binding = _digest("s", session_key) if session_key else _digest("t", api_key)
    return signing.TimestampSigner(salt=_SALT).sign_object(
        {"u": str(user.pk), "h": _fingerprint(user), "b": binding}
    )


def _still_bound(user: Any, binding: str, session: SessionBase | None) -> bool:
    if binding.startswith("s"):
        # The session must still be the user's: after logout the cookie names a session that is gone.
        key = (
            session.session_key if session is not None and session.get(SESSION_KEY) == str(user.pk) else None
        )
        return key is not None and constant_time_compare(binding, _digest("s", key))
    api_key = Token.objects.filter(user=user).values_list("key", flat=True).first()
    return api_key is not None and constant_time_compare(binding, _digest("t", api_key))


def user_for(token: str, *, session: SessionBase | None = None) -> Any | None:
    """The active user a token was made for; None when it is forged, expired or revoked, or when what it is
    bound to is gone (``session``: the request's session, which a page's token must come with)."""
    try:
        claims = signing.TimestampSigner(salt=_SALT).unsign_object(
            token, max_age=settings.VIDEO_JOBS_UPPY_TOKEN_MAX_AGE
        )
    except signing.BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(claims, dict) or not all(isinstance(claims.get(name), str) for name in "uhb"):
        return None
    user = get_user_model()._default_manager.filter(pk=claims["u"], is_active=True).first()
    if user is None or not constant_time_compare(_fingerprint(user), claims["h"]):
        return None
    return user if _still_bound(user, claims["b"], session) else None


def endpoint_path(user: AbstractBaseUser, *, session_key: str = "", api_key: str = "") -> str:
    """What a page gives Uppy as ``companionEndpoint``: the routes live under ``<this>/s3/``."""
    return f"/api/uppy/{make_token(user, session_key=session_key, api_key=api_key)}"
