"""Per-user quotas at initiate: pending uploads and active jobs, the defaults and staff's limits, and
concurrent initiates that cannot both take the last place (PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from video_jobs import services
from video_jobs.models import JobQuota, VideoAnalysisJob
from video_jobs.services import QuotaExceeded

from ..support.concurrency import race
from ..support.jobs import VIDEO, make_job

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


@override_settings(VIDEO_JOBS_MAX_ACTIVE_JOBS=3)
def test_initiate_refuses_a_job_beyond_the_active_jobs_limit(user: Any) -> None:
    arrange(user, Status.QUEUED, 2)
    arrange(user, Status.PROCESSING, 1)

    with pytest.raises(QuotaExceeded) as refused:
        initiate(user)

    assert (refused.value.quota, refused.value.limit) == ("active_jobs", 3)


@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=1, VIDEO_JOBS_MAX_ACTIVE_JOBS=1)
def test_ended_jobs_count_against_nothing(user: Any) -> None:
    for status in (Status.DONE, Status.FAILED, Status.CANCELLED):
        arrange(user, status, 3)
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
