"""/metrics: who may read it, and that every number in it comes from the database; every process agrees."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from video_jobs import services
from video_jobs.analysis import Analysis
from video_jobs.models import ErrorCode, MetricCounter, VideoAnalysisJob
from video_jobs.ops import metrics
from video_jobs.worker.loop import Worker

from ..support.concurrency import race
from ..support.jobs import VIDEO, make_job
from ..support.prometheus import scrape, value
from ..support.s3_config import s3_down

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
TOKEN = "prometheus-scrape-token"


# --- access ------------------------------------------------------------------------------------------------


def test_anonymous_callers_are_asked_to_authenticate(client: Client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"video_jobs" not in response.content


def test_non_staff_users_are_refused(client: Client, user: Any) -> None:
    client.force_login(user)
    assert client.get("/metrics").status_code == 403


def test_staff_sessions_may_read(ops_staff: Client) -> None:
    assert "video_jobs_jobs" in {name for name, _ in scrape(ops_staff)}


@override_settings(VIDEO_JOBS_METRICS_TOKEN=TOKEN)
def test_the_configured_bearer_token_may_read(client: Client) -> None:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize(
    ("configured", "sent"),
    [
        (TOKEN, f"Bearer {TOKEN}x"),
        (TOKEN, "Bearer "),
        (TOKEN, f"bearer {TOKEN[:-1]}"),
        ("", "Bearer "),  # no token configured: token access is off, even for an empty one
        ("", "Bearer anything"),
    ],
)
def test_a_wrong_token_is_refused(client: Client, configured: str, sent: str) -> None:
    with override_settings(VIDEO_JOBS_METRICS_TOKEN=configured):
        assert client.get("/metrics", headers={"Authorization": sent}).status_code == 403


def test_only_get_and_head_are_served(ops_staff: Client) -> None:
    assert ops_staff.post("/metrics").status_code == 405
    assert ops_staff.head("/metrics").status_code == 200


def test_openmetrics_when_the_scraper_asks_for_it(ops_staff: Client) -> None:
    response = ops_staff.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")


# --- what it says ------------------------------------------------------------------------------------------


def test_an_empty_service_exposes_every_series_at_zero(ops_staff: Client) -> None:
    samples = scrape(ops_staff)

    for status in Status.values:
        assert value(samples, "video_jobs_jobs", status=status) == 0
    for outcome in ("queued", "missing", "size_mismatch", "too_large", "transient"):
        assert value(samples, "video_jobs_upload_verifications_total", outcome=outcome) == 0
    assert value(samples, "video_jobs_download_missing_total") == 0
    assert value(samples, "video_jobs_stuck_uploads") == 0
    assert value(samples, "video_jobs_stale_processing") == 0
    assert value(samples, "video_jobs_oldest_queued_age_seconds") == 0
    for status in ("done", "failed"):
        assert value(samples, "video_jobs_job_duration_seconds_count", status=status) == 0
        assert value(samples, "video_jobs_job_duration_seconds_bucket", status=status, le="+Inf") == 0
    assert value(samples, "video_jobs_claim_latency_seconds_count") == 0


def test_jobs_per_status_and_the_queue_gauges_count_the_database(ops_staff: Client, user: Any) -> None:
    now = timezone.now()
    make_job(user, Status.AWAITING_UPLOAD, age=timedelta(minutes=30))
    make_job(user, Status.AWAITING_UPLOAD)
    make_job(user, Status.QUEUED, queued_at=now - timedelta(minutes=2))
    make_job(user, Status.PROCESSING, lease_expires_at=now - timedelta(seconds=1))
    make_job(user, Status.FAILED)

    samples = scrape(ops_staff)

    assert {status: value(samples, "video_jobs_jobs", status=status) for status in Status.values} == {
        "awaiting_upload": 2,
        "queued": 1,
        "processing": 1,
        "done": 0,
        "failed": 1,
        "cancelled": 0,
    }
    assert value(samples, "video_jobs_stuck_uploads") == 1
    assert value(samples, "video_jobs_stale_processing") == 1
    assert 120 <= value(samples, "video_jobs_oldest_queued_age_seconds") < 150


def test_every_verification_is_counted_by_outcome(
    ops_staff: Client, user: Any, put_video: Callable[..., None]
) -> None:
    def job_with(video: bytes | None) -> VideoAnalysisJob:
        job = make_job(user, Status.AWAITING_UPLOAD)
        if video is not None:
            put_video(job, video)
        return job

    for _ in range(2):
        services.complete_upload(job=job_with(VIDEO))
    services.complete_upload(job=job_with(None))
    services.reverify_upload(job=job_with(None))  # staff re-verification counts too
    services.complete_upload(job=job_with(b"short"))
    with override_settings(VIDEO_JOBS_MAX_UPLOAD_BYTES=len(VIDEO) - 1):
        services.complete_upload(job=job_with(VIDEO))
    with s3_down():
        services.complete_upload(job=job_with(VIDEO))
    services.reverify_upload(job=make_job(user, Status.DONE))  # not eligible: S3 is not asked, not counted

    samples = scrape(ops_staff)
    counted = {
        outcome: value(samples, "video_jobs_upload_verifications_total", outcome=outcome)
        for outcome in ("queued", "missing", "size_mismatch", "too_large", "transient")
    }
    assert counted == {"queued": 2, "missing": 2, "size_mismatch": 1, "too_large": 1, "transient": 1}


def test_a_worker_download_that_meets_a_404_is_counted(
    ops_staff: Client, user: Any, put_video: Callable[..., None], make_worker: Callable[..., Worker]
) -> None:
    found = make_job(user, Status.QUEUED)
    put_video(found, VIDEO)  # found: not counted
    gone = [make_job(user, Status.QUEUED) for _ in range(2)]  # queued, but no object at their keys

    worker = make_worker(analyzer=lambda path, *, job, progress: Analysis(result={}))
    while worker.run_once():
        pass

    assert [VideoAnalysisJob.objects.get(pk=job.pk).error_code for job in gone] == ["upload_missing"] * 2
    assert value(scrape(ops_staff), "video_jobs_download_missing_total") == 2


def test_histograms_are_cumulative_with_a_sum_and_a_count(ops_staff: Client) -> None:
    for seconds in (0.5, 3, 45, 45, 5000):
        metrics.JOB_DURATION.observe(seconds, {"status": "done"})
    metrics.JOB_DURATION.observe(1, {"status": "failed"})

    samples = scrape(ops_staff)

    def bucket(le: str, status: str = "done") -> float:
        return value(samples, "video_jobs_job_duration_seconds_bucket", status=status, le=le)

    assert [bucket(le) for le in ("1.0", "5.0", "15.0", "30.0", "60.0", "3600.0", "+Inf")] == [
        1,
        2,
        2,
        2,
        4,
        4,
        5,
    ]
    assert value(samples, "video_jobs_job_duration_seconds_count", status="done") == 5
    assert value(samples, "video_jobs_job_duration_seconds_sum", status="done") == 5093.5
    assert bucket("1.0", "failed") == 1
    assert value(samples, "video_jobs_job_duration_seconds_sum", status="failed") == 1


def test_claims_and_ended_jobs_feed_the_latency_and_duration_histograms(ops_staff: Client, user: Any) -> None:
    now = timezone.now()
    make_job(
        user, Status.QUEUED, queued_at=now - timedelta(seconds=20), run_after=now - timedelta(seconds=20)
    )
    make_job(
        user, Status.QUEUED, queued_at=now - timedelta(minutes=10), run_after=now - timedelta(minutes=10)
    )
    make_job(user, Status.AWAITING_UPLOAD)

    first = services.claim_next_job(worker_id="worker-a")
    second = services.claim_next_job(worker_id="worker-a")
    assert first is not None
    assert second is not None
    assert services.finish_job(job=first, result={"frames": 1})
    assert services.fail_job(job=second, code=ErrorCode.INVALID_VIDEO, message="not a video")
    # A job that fails its upload check never started: it has no processing time to observe.
    services.complete_upload(job=VideoAnalysisJob.objects.get(status=Status.AWAITING_UPLOAD))

    samples = scrape(ops_staff)
    latency = [
        value(samples, "video_jobs_claim_latency_seconds_bucket", le=le)
        for le in ("15.0", "30.0", "900.0", "+Inf")
    ]
    assert latency == [0, 1, 2, 2]
    assert 620 <= value(samples, "video_jobs_claim_latency_seconds_sum") < 680
    assert value(samples, "video_jobs_job_duration_seconds_count", status="done") == 1
    assert value(samples, "video_jobs_job_duration_seconds_count", status="failed") == 1
    assert value(samples, "video_jobs_job_duration_seconds_bucket", status="done", le="1.0") == 1


def test_a_metric_that_cannot_be_recorded_changes_nothing_else(
    monkeypatch: pytest.MonkeyPatch, user: Any
) -> None:
    attempted: list[str] = []

    def broken(name: str, key: str, amount: float) -> None:
        attempted.append(name)
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")  # a real database error

    monkeypatch.setattr(metrics, "_add", broken)
    with transaction.atomic():
        metrics.record_event(metrics.DOWNLOAD_MISSING)  # does not raise
        # The caller's transaction is still usable: the failure stayed inside the metric's savepoint.
        make_job(user, Status.AWAITING_UPLOAD)
    assert attempted == [metrics.DOWNLOAD_MISSING]
    assert VideoAnalysisJob.objects.count() == 1


@pytest.mark.postgres
def test_counters_from_many_connections_add_up_exactly() -> None:
    # Threads with their own connections stand for gunicorn and worker processes: all start at once on a
    # series that does not exist yet, so the first increments also race to create its row.
    def record_25() -> None:
        for _ in range(25):
            metrics.record_event("test_events", {"source": "race"})

    race(8, record_25)

    counter = MetricCounter.objects.get(name="test_events")
    assert counter.labels == '{"source":"race"}'
    assert counter.value == 200


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0.0, "1.0"), (1.0, "1.0"), (1.5, "5.0"), (3600.0, "3600.0"), (3600.5, "+Inf"), (1e9, "+Inf")],
)
def test_an_observation_lands_in_the_first_bucket_whose_bound_it_does_not_exceed(
    seconds: float, bucket: str
) -> None:
    assert metrics.JOB_DURATION.bucket_of(seconds) == bucket
