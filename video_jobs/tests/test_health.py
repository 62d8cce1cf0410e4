"""/healthz: 200 when the database and the S3 bucket answer, 503 naming the one that did not."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection
from django.test import Client, override_settings

from .jobs import s3_down

pytestmark = pytest.mark.django_db


def test_healthy_when_the_database_and_the_bucket_answer(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "s3": "ok"}}
    assert response["Cache-Control"].startswith("max-age=0")


def test_unavailable_when_s3_cannot_be_reached(client: Client) -> None:
    with s3_down():
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "s3": "failed"}}


def test_unavailable_when_the_bucket_does_not_exist(client: Client) -> None:
    with override_settings(AWS_STORAGE_BUCKET_NAME="no-such-bucket"):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "s3": "failed"}


def test_unavailable_when_the_database_cannot_be_reached(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse() -> None:
        raise OperationalError("connection refused")

    # Fault injection: the next query finds the server gone, as after a failover.
    monkeypatch.setattr(connection, "ensure_connection", refuse)
    response = client.get("/healthz")
    monkeypatch.undo()

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "failed", "s3": "ok"}}


def test_it_is_public_but_tells_nothing_beyond_which_check_failed(client: Client) -> None:
    with s3_down(), override_settings(AWS_STORAGE_BUCKET_NAME="secret-bucket-name"):
        body = client.get("/healthz").content.decode()
    assert "secret-bucket-name" not in body
    assert "127.0.0.1" not in body


def test_load_balancers_may_use_head_but_nothing_writes(client: Client) -> None:
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405
