"""Per-user quotas at initiate (pending uploads and active jobs, the defaults and staff's limits) and at
upload-complete (active jobs), and concurrent calls that cannot both take the last place (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from video_jobs import services
from video_jobs.models import JobQuota, UploadTombstone, VideoAnalysisJob
from video_jobs.services import QuotaExceeded, strays

from ..support.concurrency import race
from ..support.jobs import VIDEO, make_job
from ..support.s3_config import s3_down

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


def initiate(owner: Any, **fields: Any) -> VideoAnalysisJob:
    job, _ = services.initiate_upload(
        owner=owner, filename="clip.mp4", content_type="video/mp4", size_bytes=len(VIDEO), **fields
    )
    return job


def arrange(owner: Any, status: str, count: int) -> None:
    for _ in range(count):
        make_job(owner, status)


@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=2)
def test_initiate_refuses_a_job_beyond_the_pending_uploads_limit(user: Any, other_user: Any) -> None:
    initiate(user)
    initiate(user)

    with pytest.raises(QuotaExceeded) as refused:
        initiate(user)

    assert (refused.value.quota, refused.value.limit) == ("pending_uploads", 2)
    assert "2 jobs awaiting their upload" in refused.value.message
    assert VideoAnalysisJob.objects.filter(owner=user).count() == 2
    initiate(other_user)  # one user's limit is their own


@pytest.mark.parametrize("status", [Status.AWAITING_UPLOAD, Status.QUEUED])
def test_counts_stop_past_a_lowered_limit_and_say_more_than_it(user: Any, status: str) -> None:
    # Staff lowered the user's limits below what they already have: the counts stop one past the limit
    # (what the check costs follows the limits, not the backlog), and the refusal says "more than".
    arrange(user, status, 4)
    arrange(user, Status.CANCELLED, 2)  # given up, and no longer counted once their URLs expired
    VideoAnalysisJob.objects.filter(owner=user, status=Status.CANCELLED).update(
        finished_at=timezone.now() - strays.url_lifetime() - timedelta(seconds=5)
    )
    JobQuota.objects.create(user=user, max_pending_uploads=2, max_active_jobs=2)

    with pytest.raises(QuotaExceeded) as refused:
        initiate(user)

    quota = "pending_uploads" if status == Status.AWAITING_UPLOAD else "active_jobs"
    assert (refused.value.quota, refused.value.limit) == (quota, 2)
    assert "You have more than 2 jobs" in refused.value.message


@override_settings(VIDEO_JOBS_MAX_ACTIVE_JOBS=3)
def test_initiate_refuses_a_job_beyond_the_active_jobs_limit(user: Any) -> None:
    arrange(user, Status.QUEUED, 2)
    arrange(user, Status.PROCESSING, 1)

    with pytest.raises(QuotaExceeded) as refused:
        initiate(user)

    assert (refused.value.quota, refused.value.limit) == ("active_jobs", 3)


@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=1, VIDEO_JOBS_MAX_ACTIVE_JOBS=1)
def test_ended_jobs_count_against_nothing_once_their_upload_urls_expired(user: Any) -> None:
    arrange(user, Status.DONE, 3)
    for status in (Status.FAILED, Status.CANCELLED):
        for _ in range(3):
            make_job(user, status, verified_at=timezone.now())  # after a verified upload: at once
            make_job(user, status, finished_at=timezone.now() - strays.url_lifetime() - timedelta(seconds=5))
    initiate(user)


@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=1)
@pytest.mark.parametrize("give_up", ["cancel", "delete", "fail"])
def test_a_pending_upload_given_up_holds_its_place_until_its_upload_url_expires(
    user: Any, give_up: str
) -> None:
    job = initiate(user)
    if give_up == "cancel":
        services.cancel_job(job=job)
    elif give_up == "delete":
        assert services.delete_job(job=job) == services.Deletion.DELETED
    else:
        assert services.complete_upload(job=job).outcome == services.Outcome.MISSING  # nothing uploaded

    # The URL initiate handed out still writes for an hour: a place given back now would let one user
    # store a video a time, without bound.
    with pytest.raises(QuotaExceeded) as refused:
        initiate(user)
    assert refused.value.quota == "pending_uploads"

    expired = timezone.now() - strays.url_lifetime() - timedelta(seconds=5)
    VideoAnalysisJob.objects.filter(pk=job.pk).update(finished_at=expired)
    UploadTombstone.objects.filter(pk=job.pk).update(urls_expire_at=expired)
    initiate(user)


@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=1)
def test_a_replayed_idempotency_key_returns_its_job_even_at_the_limit(user: Any) -> None:
    first = initiate(user, idempotency_key="retry-me")
    assert initiate(user, idempotency_key="retry-me").pk == first.pk


@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=1, VIDEO_JOBS_MAX_ACTIVE_JOBS=1)
def test_staff_limits_replace_the_defaults_one_at_a_time(user: Any) -> None:
    assert services.limits_for(user) == services.quotas.Limits(pending_uploads=1, active_jobs=1)
    JobQuota.objects.create(user=user, max_pending_uploads=3)

    assert services.limits_for(user) == services.quotas.Limits(pending_uploads=3, active_jobs=1)
    for _ in range(3):
        initiate(user)
    with pytest.raises(QuotaExceeded):
        initiate(user)


@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=5)
def test_a_zero_limit_refuses_every_new_job(user: Any) -> None:
    JobQuota.objects.create(user=user, max_pending_uploads=0)
    with pytest.raises(QuotaExceeded):
        initiate(user)


@pytest.mark.postgres
@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=3)
def test_concurrent_initiates_never_take_more_places_than_the_limit(user: Any, other_user: Any) -> None:
    def call() -> str:
        try:
            initiate(user)
        except QuotaExceeded:
            return "refused"
        return "created"

    outcomes = race(12, call)

    assert sorted(outcomes) == ["created"] * 3 + ["refused"] * 9
    assert VideoAnalysisJob.objects.filter(owner=user).count() == 3
    # The lock is the user's own: another user's initiate does not wait for it.
    initiate(other_user)


# --- the active-jobs quota at upload-complete --------------------------------------------------------------


def uploaded(owner: Any, s3: Any, count: int = 1) -> list[VideoAnalysisJob]:
    """Jobs awaiting their upload whose bytes S3 holds."""
    jobs = [make_job(owner) for _ in range(count)]
    for job in jobs:
        s3.put_object(Bucket=job.s3_bucket, Key=job.s3_key, Body=VIDEO)
    return jobs


@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=5, VIDEO_JOBS_MAX_ACTIVE_JOBS=1)
def test_upload_complete_beyond_the_active_jobs_limit_is_refused_and_the_job_keeps_awaiting(
    user: Any, other_user: Any, s3: Any, heads: list[str]
) -> None:
    first, second = uploaded(user, s3, 2)
    assert services.complete_upload(job=first).job.status == Status.QUEUED

    with pytest.raises(QuotaExceeded) as refused:
        services.complete_upload(job=second)

    assert (refused.value.quota, refused.value.limit) == ("active_jobs", 1)
    second.refresh_from_db()
    assert (second.status, second.verified_at) == (Status.AWAITING_UPLOAD, None)
    assert heads == [first.s3_key]  # refused before any S3 call
    # Another user's room is their own; and once the first job ends, the second may go.
    assert services.complete_upload(job=uploaded(other_user, s3)[0]).job.status == Status.QUEUED
    VideoAnalysisJob.objects.filter(pk=first.pk).update(status=Status.DONE, stage=Status.DONE)
    assert services.complete_upload(job=second).job.status == Status.QUEUED


@override_settings(VIDEO_JOBS_MAX_ACTIVE_JOBS=1)
def test_the_active_jobs_limit_is_checked_again_where_the_job_is_queued(
    user: Any, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    [job] = uploaded(user, s3)
    real = services.uploads._verify

    def verify_while_another_job_is_queued(job: VideoAnalysisJob) -> Any:
        seen = real(job)
        make_job(user, Status.QUEUED)  # queued by another request after the first look
        return seen

    monkeypatch.setattr(services.uploads, "_verify", verify_while_another_job_is_queued)

    with pytest.raises(QuotaExceeded):
        services.complete_upload(job=job)
    job.refresh_from_db()
    assert job.status == Status.AWAITING_UPLOAD


@override_settings(VIDEO_JOBS_MAX_ACTIVE_JOBS=1)
def test_staff_reverification_and_the_reconciler_queue_whatever_the_quota(user: Any, s3: Any) -> None:
    make_job(user, Status.QUEUED)
    stuck, expired = uploaded(user, s3, 2)
    VideoAnalysisJob.objects.filter(pk=expired.pk).update(upload_deadline=stuck.created_at)

    assert services.reconcile_expired_uploads() == {services.Outcome.QUEUED: 1}
    assert services.reverify_upload(job=stuck).job.status == Status.QUEUED
    expired.refresh_from_db()
    assert expired.status == Status.QUEUED


@override_settings(VIDEO_JOBS_MAX_ACTIVE_JOBS=1)
def test_with_s3_down_a_caller_over_the_quota_hears_about_the_quota(user: Any, s3: Any) -> None:
    make_job(user, Status.QUEUED)
    [job] = uploaded(user, s3)
    with s3_down(), pytest.raises(QuotaExceeded):
        services.complete_upload(job=job)


@pytest.mark.postgres
@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=8, VIDEO_JOBS_MAX_ACTIVE_JOBS=3)
def test_concurrent_upload_completes_never_make_more_jobs_active_than_the_limit(user: Any, s3: Any) -> None:
    jobs = uploaded(user, s3, 8)
    make_job(user, Status.PROCESSING)
    waiting = list(jobs)

    def call() -> str:
        job = VideoAnalysisJob.objects.get(pk=waiting.pop().pk)
        try:
            services.complete_upload(job=job)
        except QuotaExceeded:
            return "refused"
        return "queued"

    outcomes = race(8, call)

    assert sorted(outcomes) == ["queued"] * 2 + ["refused"] * 6
    statuses = sorted(
        VideoAnalysisJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", flat=True)
    )
    assert statuses == [Status.AWAITING_UPLOAD] * 6 + [Status.QUEUED] * 2
