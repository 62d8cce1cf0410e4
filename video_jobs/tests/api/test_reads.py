"""The API's hand-built reads (``api.reads``) give what the ORM gives: every field of the token, its user and
an owned job, with the same types, on SQLite and PostgreSQL; nothing of anybody else's; and a kept
connection checked once per request."""

from __future__ import annotations

import io
import uuid
from typing import Any

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.db.models import Model
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from video_jobs.api import reads
from video_jobs.models import VideoAnalysisJob

from ..support.jobs import make_job

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


def fields_of(instance: Model) -> dict[str, tuple[type, Any]]:
    """Every column's value with its type: a time read back as text, or a UUID as a string, would differ."""
    return {
        field.attname: (type(getattr(instance, field.attname)), getattr(instance, field.attname))
        for field in instance._meta.concrete_fields
    }


def test_a_token_reads_as_the_orm_reads_it_with_its_user(user: Any) -> None:
    user.last_login = timezone.now()
    user.save()
    token = Token.objects.create(user=user)
    found = reads.token_and_user(token.key)
    assert found is not None
    read_token, read_user = found
    orm_token = Token.objects.select_related("user").get(key=token.key)
    assert fields_of(read_token) == fields_of(orm_token)
    assert fields_of(read_user) == fields_of(orm_token.user)
    assert read_token.user is read_user


def test_an_unknown_token_reads_as_none(user: Any) -> None:
    Token.objects.create(user=user)
    assert reads.token_and_user("0" * 40) is None


@pytest.mark.parametrize("status", Status.values)
def test_an_owned_job_reads_as_the_orm_reads_it(user: Any, status: str) -> None:
    job = make_job(user, status, idempotency_key="key-1")
    if status == Status.DONE:
        result = {"pose": {"angles": [[0.5, None]]}, "n": 1.5}
        VideoAnalysisJob.objects.filter(pk=job.pk).update(result=result)
    read = reads.owned_job(user.pk, job.pk)
    assert read is not None
    assert fields_of(read) == fields_of(VideoAnalysisJob.objects.get(pk=job.pk))


def test_another_users_job_or_none_at_all_reads_as_none(user: Any, other_user: Any) -> None:
    job = make_job(user)
    assert reads.owned_job(other_user.pk, job.pk) is None
    assert reads.owned_job(user.pk, uuid.uuid4()) is None


def test_an_inactive_users_token_answers_401(user: Any) -> None:
    token = Token.objects.create(user=user)
    user.is_active = False
    user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = client.get("/api/video-jobs/")
    assert response.status_code == 401
    assert response.json()["error_code"] == "authentication_failed"


def _get(app: WSGIHandler, path: str, token: str) -> str:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "wsgi.input": io.BytesIO(),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)

    b"".join(app(environ, start_response))
    return statuses[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_between_requests_is_replaced(user: Any) -> None:
    """The named reads check a kept connection once per request, as Django's cursors do (health checks):
    PostgreSQL restarted, or a pooler closed the connection, costs no failed request."""
    job = make_job(user)
    token = Token.objects.create(user=user).key
    app = WSGIHandler()  # with Django's request signals, as gunicorn runs it
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        assert _get(app, f"/api/video-jobs/{job.pk}/", token).startswith("200")
        assert connection.connection is not None  # kept (CONN_MAX_AGE)
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
        assert _get(app, f"/api/video-jobs/{job.pk}/", token).startswith("200")
