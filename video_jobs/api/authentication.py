"""Token authentication: DRF's scheme (``Authorization: Token <key>``, a 401 with ``WWW-Authenticate``
otherwise), the token and its user read by one named statement (``reads.token_and_user``) rather than the
ORM, whose query building cost more than the rest of a GET."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from . import reads


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        found = reads.token_and_user(key)
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        token, user = found
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, token
