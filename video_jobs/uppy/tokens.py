"""The capability that stands in for a session cookie and a CSRF token on the Uppy routes.

A stock ``@uppy/aws-s3`` (version 6) talks to its Companion endpoint with bare ``fetch`` calls: it can send
neither ``Authorization`` nor ``X-CSRFToken``. So the endpoint itself carries the credential, as a path
segment: ``/api/uppy/<token>``. The token is signed by the server (no database row), names its user, and
expires after ``VIDEO_JOBS_UPPY_TOKEN_MAX_AGE`` seconds; it is bound to the user's session auth hash, so a
password change revokes every token issued before it. A page on another site cannot learn it, which is what
CSRF protection needs; anyone who holds it may upload as its user until it expires, as with an API token.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing
from django.utils.crypto import constant_time_compare

_SALT = "video_jobs.uppy.endpoint"
# Enough of the session auth hash (an HMAC of the password hash) to notice that it changed.
_HASH_CHARS = 16


def _fingerprint(user: AbstractBaseUser) -> str:
    return user.get_session_auth_hash()[:_HASH_CHARS]


def make_token(user: AbstractBaseUser) -> str:
    """A token for ``user``'s Uppy endpoint, valid for ``VIDEO_JOBS_UPPY_TOKEN_MAX_AGE`` seconds."""
    return signing.TimestampSigner(salt=_SALT).sign_object({"u": str(user.pk), "h": _fingerprint(user)})


def user_for(token: str) -> Any | None:
    """The active user a token was made for; None when it is forged, expired or revoked."""
    try:
        claims = signing.TimestampSigner(salt=_SALT).unsign_object(
            token, max_age=settings.VIDEO_JOBS_UPPY_TOKEN_MAX_AGE
        )
    except signing.BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("u"), str):
        return None
    user = get_user_model()._default_manager.filter(pk=claims["u"], is_active=True).first()
    if user is None or not constant_time_compare(_fingerprint(user), str(claims.get("h", ""))):
        return None
    return user


def endpoint_path(user: AbstractBaseUser) -> str:
    """What a page gives Uppy as ``companionEndpoint``: the routes live under ``<this>/s3/``."""
    return f"/api/uppy/{make_token(user)}"
