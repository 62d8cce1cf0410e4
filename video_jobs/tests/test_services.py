"""State transitions: each guarded in the database, none to queued without a HeadObject of the job's key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from video_jobs import services, storage
from video_jobs.embedded_s3 import free_port
from video_jobs.models import ErrorCode, MetricCounter, VideoAnalysisJob
from video_jobs.services import Outcome

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
DATA = b"a cricket video" * 50


@pytest.fixture
def make_job(user: Any) -> Any:
    def make(*, size: int = len(DATA), **fields: Any) -> VideoAnalysisJob:
        job, _ = services.initiate_upload(
            owner=user, filename="clip.mp4", content_type="video/mp4", size_bytes=size
        )
        if fields:
            VideoAnalysisJob.objects.filter(pk=job.pk).update(**fields)
            job.refresh_from_db()
        return job

    return make


@pytest.fixture
def s3_down() -> Any:
    # Nothing listens on this port: every S3 call is a real connection error.
    return override_settings(AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")


@pytest.fixture
def heads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every HeadObject key, still calling the real S3."""
    seen: list[str] = []
    real = storage.head

    def recording(*, key: str) -> storage.ObjectInfo:
        seen.append(key)
        return real(key=key)

    monkeypatch.setattr(storage, "head", recording)
    return seen


def processing(make_job: Any, *, worker: str = "w1", attempts: int = 1, lease_in: float = 60) -> Any:
    return make_job(
        status=Status.PROCESSING,
        worker_id=worker,
        attempts=attempts,
        lease_expires_at=timezone.now() + timedelta(seconds=lease_in),
    )


# --- initiate ----------------------------------------------------------------------------------------------


def test_new_jobs_are_never_created_queued(make_job: Any) -> None:
    job = make_job()
    assert job.status == Status.AWAITING_UPLOAD
    assert job.upload_deadline > job.created_at
    assert not VideoAnalysisJob.objects.claimable().exists()


def test_the_model_default_status_is_awaiting_upload() -> None:
    assert VideoAnalysisJob().status == Status.AWAITING_UPLOAD


# --- verification ------------------------------------------------------------------------------------------


def test_complete_upload_reports_that_it_moved_the_job(
    make_job: Any, put_video: Any, heads: list[str]
) -> None:
    job = make_job()
    put_video(job, DATA)
    first = services.complete_upload(job=job)
    second = services.complete_upload(job=job)
    assert (first.outcome, first.changed) == (Outcome.QUEUED, True)
    assert (second.outcome, second.changed) == (Outcome.NOT_ELIGIBLE, False)
    assert heads == [job.s3_key]


def test_once_s3_answers_the_first_write_queues_the_job(make_job: Any, put_video: Any) -> None:
    # queued_at is stamped when S3 answers; any write before the job's own UPDATE (a metric, say) would
    # sit between that stamp and the moment a worker can see the job.
    job = make_job()
    put_video(job, DATA)
    with CaptureQueriesContext(connection) as queries:
        assert services.complete_upload(job=job).changed
    writes = [query["sql"] for query in queries if query["sql"].startswith(("UPDATE", "INSERT"))]
    assert writes[0].startswith(f'UPDATE "{VideoAnalysisJob._meta.db_table}"')
    assert any(MetricCounter._meta.db_table in write for write in writes[1:])  # counted, afterwards


def test_reverify_queues_a_stuck_upload_whose_object_is_there(make_job: Any, put_video: Any) -> None:
    job = make_job()
    put_video(job, DATA)
    result = services.reverify_upload(job=job)
    assert (result.outcome, result.changed) == (Outcome.QUEUED, True)
    assert job.status == Status.QUEUED
    assert job.object_size == len(DATA)


def test_reverify_leaves_a_stuck_upload_without_object_as_it_was(make_job: Any) -> None:
    job = make_job()
    result = services.reverify_upload(job=job)
    assert result.outcome == Outcome.MISSING
    assert not result.changed
    assert "does not exist" in result.detail
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.AWAITING_UPLOAD, "")


def test_reverify_leaves_a_wrong_sized_upload_as_it_was(make_job: Any, put_video: Any) -> None:
    job = make_job()
    put_video(job, DATA + b"!")
    result = services.reverify_upload(job=job)
    assert result.outcome == Outcome.SIZE_MISMATCH
    assert job.status == Status.AWAITING_UPLOAD


def test_reverify_with_s3_down_changes_nothing(make_job: Any, put_video: Any, s3_down: Any) -> None:
    job = make_job()
    put_video(job, DATA)
    with s3_down:
        result = services.reverify_upload(job=job)
    assert result.outcome == Outcome.TRANSIENT
    assert job.status == Status.AWAITING_UPLOAD


def test_reverify_requeues_a_job_failed_for_a_missing_upload_once_it_arrives(
    make_job: Any, put_video: Any
) -> None:
    job = make_job(status=Status.FAILED, error_code=ErrorCode.UPLOAD_MISSING, attempts=2)
    put_video(job, DATA)
    result = services.reverify_upload(job=job)
    assert result.changed
    assert (job.status, job.error_code, job.attempts, job.finished_at) == (Status.QUEUED, "", 0, None)


@pytest.mark.parametrize(
    ("status", "error_code"),
    [
        (Status.QUEUED, ""),
        (Status.PROCESSING, ""),
        (Status.DONE, ""),
        (Status.CANCELLED, ""),
        (Status.FAILED, ErrorCode.INVALID_VIDEO),
        (Status.FAILED, ErrorCode.LOST),
    ],
)
def test_reverify_refuses_other_statuses_without_asking_s3(
    make_job: Any, heads: list[str], status: str, error_code: str
) -> None:
    job = make_job(status=status, error_code=error_code)
    result = services.reverify_upload(job=job)
    assert (result.outcome, result.changed) == (Outcome.NOT_ELIGIBLE, False)
    assert heads == []
    assert job.status == status


def test_retry_failed_requeues_a_processing_failure_after_verifying(
    make_job: Any, put_video: Any, heads: list[str]
) -> None:
    job = make_job(status=Status.FAILED, error_code=ErrorCode.ATTEMPTS_EXHAUSTED, attempts=3)
    put_video(job, DATA)
    result = services.retry_failed_job(job=job)
    assert result.changed
    assert (job.status, job.attempts, job.error_code) == (Status.QUEUED, 0, "")
    assert heads == [job.s3_key]


def test_retry_failed_keeps_the_job_failed_when_its_object_is_gone(make_job: Any) -> None:
    job = make_job(status=Status.FAILED, error_code=ErrorCode.INVALID_VIDEO)
    result = services.retry_failed_job(job=job)
    assert result.outcome == Outcome.MISSING
    assert (job.status, job.error_code) == (Status.FAILED, ErrorCode.INVALID_VIDEO)


def test_retry_failed_refuses_upload_failures(make_job: Any, put_video: Any) -> None:
    job = make_job(status=Status.FAILED, error_code=ErrorCode.UPLOAD_MISSING)
    put_video(job, DATA)
    assert services.retry_failed_job(job=job).outcome == Outcome.NOT_ELIGIBLE
    assert job.status == Status.FAILED


# --- cancel ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.AWAITING_UPLOAD, Status.QUEUED])
def test_cancel_moves_unstarted_jobs(make_job: Any, status: str) -> None:
    job = make_job(status=status)
    assert services.cancel_job(job=job)
    assert (job.status, job.stage) == (Status.CANCELLED, VideoAnalysisJob.Stage.CANCELLED)


@pytest.mark.parametrize("status", [Status.PROCESSING, Status.DONE, Status.FAILED, Status.CANCELLED])
def test_cancel_refuses_started_or_ended_jobs(make_job: Any, status: str) -> None:
    job = make_job(status=status)
    assert not services.cancel_job(job=job)
    assert job.status == status


# --- claim, lease fence, retries ---------------------------------------------------------------------------


def test_claim_takes_the_oldest_claimable_job_and_starts_an_attempt(make_job: Any) -> None:
    now = timezone.now()
    older = make_job(status=Status.QUEUED, run_after=now - timedelta(minutes=2))
    newer = make_job(status=Status.QUEUED, run_after=now - timedelta(minutes=1))
    make_job(status=Status.QUEUED, run_after=now + timedelta(minutes=5))  # backing off
    make_job()  # awaiting upload: never claimable

    first = services.claim_next_job(worker_id="w1", lease_seconds=30)
    second = services.claim_next_job(worker_id="w2", lease_seconds=30)
    third = services.claim_next_job(worker_id="w3", lease_seconds=30)

    assert first is not None
    assert second is not None
    assert (first.pk, second.pk, third) == (older.pk, newer.pk, None)
    assert (first.status, first.worker_id, first.attempts) == (Status.PROCESSING, "w1", 1)
    assert first.lease_expires_at is not None
    assert first.lease_expires_at > timezone.now()
    assert first.started_at is not None


def test_a_worker_that_lost_its_lease_cannot_write(make_job: Any) -> None:
    job = processing(make_job, worker="old", attempts=1)
    stale = VideoAnalysisJob.objects.get(pk=job.pk)
    # The lease expired and another worker took the job over.
    VideoAnalysisJob.objects.filter(pk=job.pk).update(worker_id="new", attempts=2)
    current = VideoAnalysisJob.objects.get(pk=job.pk)
    assert services.finish_job(job=current, result={"by": "new"})

    assert not services.renew_lease(job=stale)
    assert not services.report_progress(job=stale, stage="analyzing", progress=50)
    assert not services.finish_job(job=stale, result={"by": "old"})
    assert not services.fail_job(job=stale, code=ErrorCode.INVALID_VIDEO, message="late")
    assert not services.retry_job(job=stale, message="late")
    assert not services.release_job(job=stale)
    job.refresh_from_db()
    assert (job.status, job.result, job.progress) == (Status.DONE, {"by": "new"}, 100)


def test_renew_lease_extends_it(make_job: Any) -> None:
    job = processing(make_job, lease_in=1)
    before = job.lease_expires_at
    assert services.renew_lease(job=job, lease_seconds=120)
    job.refresh_from_db()
    assert job.lease_expires_at > before + timedelta(seconds=100)


def test_retry_job_backs_off_until_attempts_run_out(make_job: Any) -> None:
    job = processing(make_job, attempts=1)
    assert services.retry_job(job=job, message="S3 answered 503")
    assert job.status == Status.QUEUED
    assert job.run_after > timezone.now()
    assert job.error_message == "S3 answered 503"

    last = processing(make_job, attempts=3)
    assert services.retry_job(job=last, message="S3 answered 503 again")
    assert (last.status, last.error_code) == (Status.FAILED, ErrorCode.ATTEMPTS_EXHAUSTED)
    assert last.error_message == "S3 answered 503 again"


def test_release_job_hands_it_back_without_counting_the_attempt(make_job: Any) -> None:
    job = processing(make_job, attempts=2)
    assert services.release_job(job=job)
    assert (job.status, job.attempts, job.worker_id, job.lease_expires_at) == (Status.QUEUED, 1, "", None)
    assert job.run_after <= timezone.now()


@override_settings(VIDEO_JOBS_RETRY_BACKOFF_BASE=4, VIDEO_JOBS_RETRY_BACKOFF_MAX=20)
def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    for attempts, ceiling in [(1, 4), (2, 8), (3, 16), (4, 20), (10, 20)]:
        delays = {services.backoff_delay(attempts).total_seconds() for _ in range(20)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1


# --- recovery sweeps ---------------------------------------------------------------------------------------


def test_expired_leases_are_requeued_then_lost(make_job: Any) -> None:
    retry = processing(make_job, attempts=1, lease_in=-5)
    lost = processing(make_job, attempts=3, lease_in=-5)
    alive = processing(make_job, attempts=1, lease_in=60)

    assert services.requeue_expired_leases() == 2

    for job in (retry, lost, alive):
        job.refresh_from_db()
    assert (retry.status, retry.attempts, retry.worker_id) == (Status.QUEUED, 1, "")
    assert (lost.status, lost.error_code) == (Status.FAILED, ErrorCode.LOST)
    assert alive.status == Status.PROCESSING


def test_requeue_stale_skips_a_job_whose_worker_renewed_meanwhile(make_job: Any) -> None:
    job = processing(make_job, lease_in=-5)
    seen_expired = VideoAnalysisJob.objects.get(pk=job.pk)
    services.renew_lease(job=job)
    assert not services.requeue_stale_job(job=seen_expired)
    assert seen_expired.status == Status.PROCESSING


def test_reconciler_settles_expired_uploads_by_asking_s3(
    make_job: Any, put_video: Any, s3_down: Any, heads: list[str]
) -> None:
    past = timezone.now() - timedelta(minutes=1)
    present = make_job(upload_deadline=past)
    absent = make_job(upload_deadline=past)
    fresh = make_job()
    put_video(present, DATA)

    with s3_down:
        # The first transient answer ends the sweep: with S3 down, each further HeadObject would only wait
        # out another timeout.
        assert services.reconcile_expired_uploads() == {Outcome.TRANSIENT: 1}
    assert len(heads) == 1
    assert VideoAnalysisJob.objects.filter(status=Status.AWAITING_UPLOAD).count() == 3

    assert services.reconcile_expired_uploads() == {Outcome.QUEUED: 1, Outcome.MISSING: 1}
    for job in (present, absent, fresh):
        job.refresh_from_db()
    assert present.status == Status.QUEUED
    assert (absent.status, absent.error_code) == (Status.FAILED, ErrorCode.UPLOAD_EXPIRED)
    assert fresh.status == Status.AWAITING_UPLOAD


# --- PostgreSQL wake-up ------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_queueing_a_job_notifies_listeners_at_commit(make_job: Any, put_video: Any) -> None:
    job = make_job()
    put_video(job, DATA)
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
def test_the_worker_statements_run_prepared_and_nothing_else_does(make_job: Any) -> None:
    for _ in range(3):
        make_job(status=Status.QUEUED)
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
def test_prepared_statements_can_be_turned_off_for_old_poolers(make_job: Any) -> None:
    make_job(status=Status.QUEUED)
    claimed = services.claim_next_job(worker_id="w1")
    assert claimed is not None
    assert services.finish_job(job=claimed, result={})
    assert _prepared_statements() == []
