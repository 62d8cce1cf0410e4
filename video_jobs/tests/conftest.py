from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from video_jobs import storage
from video_jobs.embedded_s3 import MotoServer

# boto3's credential chain; moto accepts any key. Set before any client exists.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

BUCKET = "cricksy-test-videos"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("postgres"):
            # Concurrency proofs talk to a real server; they need a transactional database.
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture(autouse=True)
def _postgres_marker_needs_postgres(request: pytest.FixtureRequest) -> None:
    # Never skip: a PostgreSQL test on another database is a broken run, not an optional test.
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL: run it with DATABASE_URL=postgres://... (see README)")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _s3_session_settings(moto_server: MotoServer) -> Iterator[None]:
    with override_settings(AWS_S3_ENDPOINT_URL=moto_server.endpoint, AWS_STORAGE_BUCKET_NAME=BUCKET):
        storage.ensure_bucket()
        yield


@pytest.fixture(autouse=True)
def s3(_s3_session_settings: None) -> Any:
    """Every test talks to the moto server's bucket; returns the boto3 client for arranging objects."""
    return storage.client()


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="bob", password="pw-bob-123")


def token_client(user: Any) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(user: Any) -> APIClient:
    return token_client(user)


@pytest.fixture
def other_api(other_user: Any) -> APIClient:
    return token_client(other_user)


@pytest.fixture
def put_video(s3: Any) -> Callable[..., None]:
    """Upload bytes to a job's key, as the client's presigned PUT would."""

    def put(job: Any, data: bytes) -> None:
        s3.put_object(Bucket=job.s3_bucket, Key=job.s3_key, Body=data, ContentType=job.content_type)

    return put
