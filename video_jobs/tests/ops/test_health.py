"""/healthz/ready (and /healthz): 200 when the database and the S3 bucket answer, 503 naming the one that
did not, with the S3 answer reused for a few seconds. /healthz/live: 200 whatever the dependencies say."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client, override_settings

from video_jobs.s3 import storage

from ..support.s3_config import s3_down

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_reuse() -> Iterator[None]:
    # Each test asks S3 afresh unless it says otherwise (the answer is cached per process).
    with override_settings(VIDEO_JOBS_HEALTH_S3_CACHE_SECONDS=0):
        yield


@pytest.fixture
def bucket_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts HeadBucket calls, still asking the real S3."""
    calls: list[int] = []
    real = storage.check_bucket

    def counting() -> None:
        calls.append(1)
        real()

    monkeypatch.setattr(storage, "check_bucket", counting)
    return calls


def database_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise OperationalError("connection refused")

    # Fault injection: the next query finds the server gone, as after a failover.
    monkeypatch.setattr(connection, "ensure_connection", refuse)


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
    database_down(monkeypatch)
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


def test_ready_is_what_healthz_answers(client: Client) -> None:
    assert client.get("/healthz/ready").json() == client.get("/healthz").json()
    with s3_down():
        assert client.get("/healthz/ready").status_code == 503


def test_ready_reuses_its_s3_answer_for_the_configured_seconds(
    client: Client, bucket_checks: list[int]
) -> None:
    with override_settings(VIDEO_JOBS_HEALTH_S3_CACHE_SECONDS=60):
        answers = [client.get("/healthz/ready").status_code for _ in range(5)]
        assert answers == [200] * 5
        assert len(bucket_checks) == 1
        # A brownout within those seconds takes this instance out of nothing; the database is asked anew.
        with s3_down():
            assert client.get("/healthz/ready").status_code == 200

    assert len(bucket_checks) == 1
    with s3_down():  # past those seconds (here: back to 0), S3 is asked again
        assert client.get("/healthz/ready").status_code == 503
    assert len(bucket_checks) == 2


def test_a_failed_s3_answer_is_reused_too(client: Client, bucket_checks: list[int]) -> None:
    with s3_down(), override_settings(VIDEO_JOBS_HEALTH_S3_CACHE_SECONDS=60):
        assert [client.get("/healthz/ready").status_code for _ in range(3)] == [503] * 3
    assert len(bucket_checks) == 1


def test_live_answers_without_touching_the_database_or_s3(
    client: Client, monkeypatch: pytest.MonkeyPatch, bucket_checks: list[int], django_assert_num_queries: Any
) -> None:
    with s3_down(), django_assert_num_queries(0):
        database_down(monkeypatch)
        response = client.get("/healthz/live")
    monkeypatch.undo()

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert bucket_checks == []
    assert response["Cache-Control"].startswith("max-age=0")
