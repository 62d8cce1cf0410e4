"""The API's reads on every call, as named statements (``queries.sql``): the token with its user that
authenticates a call, and the caller's job that a detail route acts on."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections
from rest_framework.authtoken.models import Token

from ..db import Names, RowLoader, load_queries, run_hot
from ..models import VideoAnalysisJob

_TOKEN = RowLoader(Token, prefix=Token._meta.db_table)
_USER = RowLoader(get_user_model(), prefix=get_user_model()._meta.db_table)
_JOB = RowLoader(VideoAnalysisJob)

QUERIES = load_queries(
    __file__,
    token=Names(Token),
    user=Names(get_user_model()),
    job=Names(VideoAnalysisJob),
    token_columns=_TOKEN.columns,
    user_columns=_USER.columns,
    job_columns=_JOB.columns,
)


def token_and_user(key: str) -> tuple[Token, Any] | None:
    """The token of ``key`` and its user (``token.user`` set), or None when there is no such token."""
    _, row = run_hot(QUERIES["token_user"], [key], fetch=True)
    if row is None:
        return None
    token: Token = _TOKEN.load(row)
    user = _USER.load(row, _TOKEN.width)
    token.user = user
    return token, user


def owned_job(owner_id: Any, job_id: uuid.UUID) -> VideoAnalysisJob | None:
    """The job ``job_id`` if ``owner_id`` owns it, else None (another user's job, or none at all)."""
    db = connections[DEFAULT_DB_ALIAS]
    params = [VideoAnalysisJob._meta.pk.get_db_prep_value(job_id, db), owner_id]
    _, row = run_hot(QUERIES["owned_job"], params, fetch=True)
    job: VideoAnalysisJob | None = None if row is None else _JOB.load(row)
    return job
