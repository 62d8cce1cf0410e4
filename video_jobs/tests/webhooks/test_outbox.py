"""The outbox: deliveries are written with the status change, in its transaction, for exactly the owner's
active subscribed endpoints, carrying the job as it was at the event; cheap when there is no endpoint."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from video_jobs.api.serializers import JobSerializer
from video_jobs.models import VideoAnalysisJob
from video_jobs.webhooks import bodies, outbox, sql
from video_jobs.webhooks.models import EventType, WebhookDelivery

from ..support.jobs import make_job
from ..support.webhook_helpers import RESULT, SUMMARY, finish, make_endpoint

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
URL = "https://hooks.example.com/cricksy"


def test_an_event_is_written_for_every_active_endpoint_of_the_owner_that_subscribes(
    user: Any, other_user: Any
) -> None:
    all_events = make_endpoint(user, URL)
    done_only = make_endpoint(user, URL + "/done", events=[EventType.JOB_DONE])
    make_endpoint(user, URL + "/failed", events=[EventType.JOB_FAILED])
    switched_off = make_endpoint(user, URL + "/off")
    switched_off.active = False
    switched_off.save()
    make_endpoint(other_user, URL + "/bob")
    job = make_job(user, Status.PROCESSING)

    assert finish(job) == 2

    rows = WebhookDelivery.objects.order_by("endpoint__url")
    assert {row.endpoint_id for row in rows} == {all_events.pk, done_only.pk}
    assert {row.event_id for row in rows} == {rows[0].event_id}  # one event, one webhook-id
    assert rows[0].event_id.startswith("msg_")
    for row in rows:
        assert (row.event_type, row.job_id, row.status, row.attempts) == (
            "video_job.done",
            job.pk,
            "pending",
            0,
        )
        # Due at once, by the database's clock.
        assert abs(row.next_attempt_at - row.occurred_at) < timedelta(seconds=5)  # type: ignore[operator]


def test_an_owner_without_endpoints_costs_one_statement_and_writes_nothing(user: Any) -> None:
    job = make_job(user, Status.PROCESSING)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert outbox.record_job_event(job=job, event_type=EventType.JOB_DONE) == 0
    statements = [query["sql"] for query in queries if not query["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 1
    assert statements[0].lstrip().upper().startswith(("INSERT", "WITH"))
    assert not WebhookDelivery.objects.exists()


def test_the_payload_is_the_job_as_the_api_showed_it_at_the_event_with_its_result_summarised(
    user: Any,
) -> None:
    make_endpoint(user, URL)
    job = make_job(user, Status.PROCESSING)
    finish(job)
    at_the_event = dict(JobSerializer(job).data)
    # The job moves on afterwards; the event still tells what it was.
    VideoAnalysisJob.objects.filter(pk=job.pk).update(error_message="changed later", progress=7)

    body = json.loads(bodies.render_body(WebhookDelivery.objects.get()))

    assert body["type"] == "video_job.done"
    assert body["data"] == {**at_the_event, "result": SUMMARY}
    assert "motion" not in body["data"]["result"]
    assert len(json.dumps(body)) < len(json.dumps(RESULT))


def test_the_body_is_type_timestamp_and_data_in_compact_json(user: Any) -> None:
    make_endpoint(user, URL)
    job = make_job(user, Status.PROCESSING)
    finish(job, result={"frames": 3})
    delivery = WebhookDelivery.objects.get()

    text = bodies.render_body(delivery)

    body = json.loads(text)
    assert list(body) == ["type", "timestamp", "data"]
    assert body["timestamp"] == delivery.occurred_at.isoformat().replace("+00:00", "Z")
    assert body["data"]["id"] == str(job.pk)
    assert body["data"]["result"] == {}  # none of the summarised keys: an empty summary, not the result
    assert ": " not in text
    assert ", " not in text


def test_a_job_without_a_result_has_a_null_result(user: Any) -> None:
    make_endpoint(user, URL)
    job = make_job(user, Status.QUEUED)
    with transaction.atomic():
        VideoAnalysisJob.objects.filter(pk=job.pk).update(status=Status.CANCELLED, stage="cancelled")
        outbox.record_job_event(job=job, event_type=EventType.JOB_CANCELLED)
    body = json.loads(bodies.render_body(WebhookDelivery.objects.get()))
    assert (body["type"], body["data"]["status"], body["data"]["result"]) == (
        "video_job.cancelled",
        "cancelled",
        None,
    )


def test_a_status_change_that_rolls_back_leaves_no_event(user: Any) -> None:
    make_endpoint(user, URL)
    job = make_job(user, Status.PROCESSING)

    def change_then_fail() -> None:
        with transaction.atomic():
            VideoAnalysisJob.objects.filter(pk=job.pk).update(status=Status.DONE, stage="done")
            outbox.record_job_event(job=job, event_type=EventType.JOB_DONE)
            raise RuntimeError("the transaction fails after the event was written")

    with pytest.raises(RuntimeError):
        change_then_fail()

    assert not WebhookDelivery.objects.exists()
    job.refresh_from_db()
    assert job.status == Status.PROCESSING


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused(user: Any) -> None:
    job = make_job(user, Status.DONE)
    with pytest.raises(transaction.TransactionManagementError):
        outbox.record_job_event(job=job, event_type=EventType.JOB_DONE)


def test_a_ping_is_written_for_its_one_endpoint(user: Any) -> None:
    endpoint = make_endpoint(user, URL, events=[EventType.JOB_FAILED])
    make_endpoint(user, URL + "/other")
    delivery = outbox.record_ping(endpoint=endpoint)
    assert WebhookDelivery.objects.get() == delivery
    body = json.loads(bodies.render_body(delivery))
    assert (body["type"], body["data"]) == ("ping", {"endpoint_id": str(endpoint.pk)})


# --- PostgreSQL: NOTIFY, and the statement the job services can fold into their own ------------------------


def _listening() -> psycopg.Connection[Any]:
    listener = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    listener.execute(f"LISTEN {sql.CHANNEL}")
    return listener


@pytest.mark.postgres
def test_the_dispatchers_are_notified_at_commit_and_not_for_a_rollback_or_no_delivery(user: Any) -> None:
    listener = _listening()
    try:
        job = make_job(user, Status.PROCESSING)
        finish(job)  # no endpoint yet
        assert list(listener.notifies(timeout=0.3)) == []

        make_endpoint(user, URL)

        def record_then_fail() -> None:
            with transaction.atomic():
                outbox.record_job_event(job=job, event_type=EventType.JOB_DONE)
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            record_then_fail()
        assert list(listener.notifies(timeout=0.3)) == []

        with transaction.atomic():
            outbox.record_job_event(job=job, event_type=EventType.JOB_DONE)
            make_endpoint(user, URL + "/2")
            outbox.record_job_event(job=job, event_type=EventType.JOB_DONE)
        notified = list(listener.notifies(timeout=1, stop_after=1))
        assert [note.channel for note in notified] == [sql.CHANNEL]
        assert list(listener.notifies(timeout=0.3)) == []  # PostgreSQL folded the transaction's into one
    finally:
        listener.close()
