"""The hand-built statements: NOTIFY at commit, prepared statements, the INSERT that returns its times."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from video_jobs import services
from video_jobs.api import reads
from video_jobs.api.serializers import JobSerializer
from video_jobs.clock import database_now
from video_jobs.models import VideoAnalysisJob
from video_jobs.services import sql
from video_jobs.webhooks import bodies, endpoints, outbox
from video_jobs.webhooks.models import WebhookDelivery

from ..support.jobs import VIDEO, make_job

pytestmark = pytest.mark.django_db


Status = VideoAnalysisJob.Status

# --- PostgreSQL wake-up ------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_queueing_a_job_notifies_listeners_at_commit(user: Any, put_video: Any) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as listener:
        listener.execute(f"LISTEN {services.QUEUED_CHANNEL}")
        services.complete_upload(job=job)
        received = [note.payload for note in listener.notifies(timeout=5, stop_after=1)]
    assert received == [str(job.pk)]


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.postgres
def test_the_worker_statements_run_prepared_and_nothing_else_does(user: Any) -> None:
    for _ in range(3):
        make_job(user, Status.QUEUED)
    claimed = services.claim_next_job(worker_id="w1")
    assert claimed is not None
    finished, following = services.finish_job_and_claim_next(job=claimed, result={})
    assert finished
    assert following is not None
    for _ in range(10):  # an ordinary ORM query, run more often than psycopg's default threshold (5)
        assert VideoAnalysisJob.objects.filter(status=Status.QUEUED).count() == 1

    statements = _prepared_statements()
    prepared = [statement.split(None, 1)[0] for statement in statements]
    assert "UPDATE" in prepared  # the claim (and, from earlier tests on this connection, fenced writes)
    assert "WITH" in prepared  # finish and claim the next
    # The ORM's count, never (the API's named reads and initiate's statements may be, from earlier tests).
    assert not any('"__count"' in statement for statement in statements)


@pytest.mark.postgres
def test_initiate_and_the_api_reads_run_prepared(user: Any) -> None:
    token = Token.objects.create(user=user)
    for _ in range(2):
        job, _ = services.initiate_upload(
            owner=user, filename="a.mp4", content_type="video/mp4", size_bytes=len(VIDEO)
        )
        assert reads.owned_job(user.pk, job.pk) == job
        assert reads.token_and_user(token.key) is not None
    statements = " ".join(_prepared_statements())
    for name in ("lock_owner", "count_owner_jobs", "insert_job"):
        assert _first_line(sql.QUERIES[name]) in statements
    for name in ("token_user", "owned_job"):
        assert _first_line(reads.QUERIES[name]) in statements


def _first_line(statement: str) -> str:
    return statement.splitlines()[0].strip().split("{")[0].strip()


def test_a_new_jobs_times_are_the_databases_and_it_saves_as_an_update(user: Any) -> None:
    before = database_now()
    job, created = services.initiate_upload(
        owner=user, filename="a.mp4", content_type="video/mp4", size_bytes=len(VIDEO)
    )
    assert created
    stored = VideoAnalysisJob.objects.get(pk=job.pk)
    for name in ("created_at", "updated_at", "run_after", "upload_deadline"):
        assert getattr(job, name) == getattr(stored, name)
    assert before <= job.created_at <= database_now()
    assert job.upload_deadline - job.created_at == timedelta(seconds=settings.VIDEO_JOBS_UPLOAD_DEADLINE)
    assert stored.result is None  # SQL NULL, not JSON null
    assert VideoAnalysisJob.objects.filter(pk=job.pk, result__isnull=True).exists()
    job.filename = "b.mp4"
    job.save(update_fields=["filename"])
    job.save()  # an UPDATE: the instance knows it is stored
    assert VideoAnalysisJob.objects.get(pk=job.pk).filename == "b.mp4"


@pytest.mark.postgres
@override_settings(VIDEO_JOBS_PREPARED_STATEMENTS=False)
def test_prepared_statements_can_be_turned_off_for_old_poolers(user: Any) -> None:
    make_job(user, Status.QUEUED)
    claimed = services.claim_next_job(worker_id="w1")
    assert claimed is not None
    assert services.finish_job(job=claimed, result={})
    assert _prepared_statements() == []


@pytest.mark.postgres
def test_finish_and_claim_writes_the_done_event_in_its_one_statement_and_wakes_the_dispatchers(
    user: Any,
) -> None:
    endpoints.create_endpoint(owner=user, url="https://hooks.example.com/cricksy")
    for _ in range(2):
        make_job(user, Status.QUEUED)
    claimed = services.claim_next_job(worker_id="w1")
    assert claimed is not None
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as listener:
        listener.execute(f"LISTEN {outbox.CHANNEL}")
        with CaptureQueriesContext(connection) as queries:
            finished, following = services.finish_job_and_claim_next(job=claimed, result={"frames": 2})
        heard = list(listener.notifies(timeout=5, stop_after=1))
    assert finished
    assert following is not None
    # One statement finished the job, wrote its event and claimed the next (the others are metrics).
    delivery_table = WebhookDelivery._meta.db_table
    touching = [query["sql"] for query in queries if delivery_table in query["sql"]]
    assert len(touching) == 1
    assert touching[0].lstrip().startswith("WITH finished")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event_type, delivery.job_id) == ("video_job.done", claimed.pk)
    data = json.loads(bodies.render_body(delivery))["data"]
    assert data["status"] == "done"
    assert [note.channel for note in heard] == [outbox.CHANNEL]
    # The same statement returned the times the database wrote: the job in memory, its row and its event
    # show one finish.
    row = VideoAnalysisJob.objects.get(pk=claimed.pk)
    assert (claimed.finished_at, claimed.updated_at) == (row.finished_at, row.updated_at)
    assert data["finished_at"] == JobSerializer(row).data["finished_at"]


@pytest.mark.postgres
def test_finish_and_claim_writes_no_event_when_the_fence_fails(user: Any) -> None:
    endpoints.create_endpoint(owner=user, url="https://hooks.example.com/cricksy")
    make_job(user, Status.QUEUED)
    claimed = services.claim_next_job(worker_id="w1")
    assert claimed is not None
    VideoAnalysisJob.objects.filter(pk=claimed.pk).update(worker_id="successor")
    finished, _ = services.finish_job_and_claim_next(job=claimed, result={})
    assert not finished
    assert not WebhookDelivery.objects.exists()
