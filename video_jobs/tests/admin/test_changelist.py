"""The job list staff start from: its filters (stuck uploads, stale processing, status, stage, error code),
its search, its columns, and the queue at a glance above it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from video_jobs.models import ErrorCode, VideoAnalysisJob

from ..support.admin_actions import CHANGELIST
from ..support.jobs import make_job

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


@pytest.fixture
def population(admin_user: Any, django_user_model: Any) -> dict[str, VideoAnalysisJob]:
    carol = django_user_model.objects.create_user(username="carol", email="carol@example.com")
    now = timezone.now()
    return {
        "stuck_old": make_job(admin_user, Status.AWAITING_UPLOAD, age=timedelta(hours=3)),
        "stuck_just": make_job(admin_user, Status.AWAITING_UPLOAD, age=timedelta(minutes=5, seconds=5)),
        "fresh": make_job(carol, Status.AWAITING_UPLOAD, age=timedelta(minutes=4), filename="nets.mov"),
        "queued_old": make_job(admin_user, Status.QUEUED, age=timedelta(hours=3)),
        "stale": make_job(
            carol, Status.PROCESSING, age=timedelta(hours=1), lease_expires_at=now - timedelta(seconds=1)
        ),
        "live": make_job(admin_user, Status.PROCESSING, age=timedelta(hours=1)),
        "no_lease": make_job(admin_user, Status.PROCESSING, age=timedelta(hours=1), lease_expires_at=None),
        "failed": make_job(admin_user, Status.FAILED, age=timedelta(hours=2)),
        "done": make_job(admin_user, Status.DONE, age=timedelta(hours=2)),
    }


def listed(client: Client, query: str) -> set[object]:
    response = client.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 200  # an invalid filter would redirect to ?e=1
    return {job.pk for job in response.context["cl"].result_list}


def pks(population: dict[str, VideoAnalysisJob], *names: str) -> set[object]:
    return {population[name].pk for name in names}


def test_stuck_upload_filter_lists_exactly_the_uploads_older_than_the_setting(
    staff: Client, population: dict[str, VideoAnalysisJob]
) -> None:
    assert listed(staff, "stuck_upload=yes") == pks(population, "stuck_old", "stuck_just")
    with override_settings(VIDEO_JOBS_STUCK_UPLOAD_MINUTES=60):
        assert listed(staff, "stuck_upload=yes") == pks(population, "stuck_old")
        assert "Awaiting upload &gt; 60 min" in staff.get(CHANGELIST).content.decode()


def test_stale_processing_filter_lists_exactly_the_expired_leases(
    staff: Client, population: dict[str, VideoAnalysisJob]
) -> None:
    assert listed(staff, "stale_processing=yes") == pks(population, "stale")


def test_status_and_stage_filters(staff: Client, population: dict[str, VideoAnalysisJob]) -> None:
    assert listed(staff, "status__exact=processing") == pks(population, "stale", "live", "no_lease")
    assert listed(staff, "stage__exact=awaiting_upload") == pks(
        population, "stuck_old", "stuck_just", "fresh"
    )
    assert listed(staff, "status__exact=processing&stale_processing=yes") == pks(population, "stale")


def test_the_error_code_filter_lists_the_jobs_that_failed_that_way(
    staff: Client, population: dict[str, VideoAnalysisJob], admin_user: Any
) -> None:
    lost = make_job(admin_user, Status.FAILED, error_code=ErrorCode.LOST, error_message="lost")

    assert listed(staff, "error_code__exact=invalid_video") == pks(population, "failed")
    assert listed(staff, "error_code__exact=lost") == {lost.pk}
    # The filter panel offers every code, whether or not a job has it now.
    page = staff.get(CHANGELIST).content.decode()
    assert all(f"?error_code__exact={code}" in page for code in ErrorCode.values)


def test_the_list_shows_every_job_with_its_columns(
    staff: Client, population: dict[str, VideoAnalysisJob]
) -> None:
    response = staff.get(CHANGELIST)
    assert {job.pk for job in response.context["cl"].result_list} == pks(population, *population)
    # The columns staff see (the summary above the list has a table of its own).
    results = response.content.decode().split('id="result_list"', 1)[1]
    columns = re.findall(r'class="[^"]*column-(\w+)', results.split("</thead>", 1)[0])
    assert {"id", "owner", "filename", "status", "stage", "progress", "attempts", "age"} <= set(columns)
    assert response.context["cl"].date_hierarchy == "created_at"
    assert "3\xa0hours" in response.content.decode()  # the age column


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        (lambda p: str(p["stale"].pk), ["stale"]),
        (lambda p: str(p["stale"].pk).upper(), ["stale"]),
        (lambda p: p["queued_old"].s3_key, ["queued_old"]),
        (lambda p: "nets.mo", ["fresh"]),
        (lambda p: "carol", ["fresh", "stale"]),
        (lambda p: "carol@example", ["fresh", "stale"]),
        (lambda p: "no such thing", []),
    ],
)
def test_search_by_id_key_filename_or_owner(
    staff: Client, population: dict[str, VideoAnalysisJob], term: Callable[..., str], expected: list[str]
) -> None:
    response = staff.get(CHANGELIST, {"q": term(population)})
    assert {job.pk for job in response.context["cl"].result_list} == pks(population, *expected)


def test_the_list_starts_with_the_queue_at_a_glance(
    staff: Client, population: dict[str, VideoAnalysisJob]
) -> None:
    response = staff.get(CHANGELIST)

    stats = response.context["job_stats"]
    assert stats.by_status == {
        "awaiting_upload": 3,
        "queued": 1,
        "processing": 3,
        "done": 1,
        "failed": 1,
        "cancelled": 0,
    }
    assert (stats.stuck_uploads, stats.stale_processing) == (2, 1)
    page = response.content.decode()
    assert "Queue at a glance" in page
    assert '<a href="?stuck_upload=yes">2</a>' in page
    assert '<a href="?stale_processing=yes">1</a>' in page
    assert '<td data-status="processing"><a href="?status__exact=processing">3</a></td>' in page
    assert "3\xa0hours" in page.split('id="summary-oldest-queued"')[1].split("</td>")[0]
