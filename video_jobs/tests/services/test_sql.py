"""The hand-built PostgreSQL statements: NOTIFY at commit, prepared statements."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from video_jobs import services
from video_jobs.api.serializers import JobSerializer
from video_jobs.models import VideoAnalysisJob
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

    prepared = [statement.split(None, 1)[0] for statement in _prepared_statements()]
    assert "UPDATE" in prepared  # the claim (and, from earlier tests on this connection, fenced writes)
    assert "WITH" in prepared  # finish and claim the next
    assert "SELECT" not in prepared


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
