"""An action first shows what it will touch, on a page that changes nothing; a selection too large to run is
refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.admin.models import LogEntry
from django.test import Client

from video_jobs.admin.actions import MAX_JOBS_PER_ACTION
from video_jobs.models import VideoAnalysisJob

from ..support.admin_actions import ACTION_LABELS, job_in, reported, run_action
from ..support.jobs import VIDEO

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


def test_an_action_first_shows_what_it_will_touch_and_changes_nothing(
    staff: Client, admin_user: Any, put_video: Callable[..., None], heads: list[tuple[str, object]]
) -> None:
    stuck = job_in("awaiting_upload", admin_user)
    put_video(stuck, VIDEO)
    queued = job_in("queued", admin_user)

    response = run_action(staff, "reverify_upload_and_queue", [stuck, queued], confirm=False)

    assert response.status_code == 200
    assert response.templates[0].name == ("admin/video_jobs/videoanalysisjob/action_confirmation.html")
    assert [job.pk for job in response.context["eligible"]] == [stuck.pk]
    assert [(job.pk, reason) for job, reason in response.context["skipped"]] == [
        (
            queued.pk,
            "it is queued; only awaiting_upload jobs and failed jobs with an upload error, whose source "
            "video is kept, can be re-verified",
        )
    ]
    page = response.content.decode()
    assert f'name="_selected_action" value="{stuck.pk}"' in page
    assert f'name="_selected_action" value="{queued.pk}"' not in page  # only the eligible are posted back
    assert 'name="post" value="yes"' in page
    assert 'name="action" value="reverify_upload_and_queue"' in page
    stuck.refresh_from_db()
    assert stuck.status == Status.AWAITING_UPLOAD
    assert heads == []
    assert LogEntry.objects.count() == 0


def test_the_confirmation_page_offers_no_yes_when_nothing_is_eligible(staff: Client, admin_user: Any) -> None:
    done = job_in("done", admin_user)

    response = run_action(staff, "cancel_jobs", [done], confirm=False)

    assert response.context["eligible"] == []
    assert 'value="Yes' not in response.content.decode()
    assert "None of the selected jobs can be touched" in response.content.decode()


@pytest.mark.parametrize("action", list(ACTION_LABELS))
def test_every_action_has_a_confirmation_page(staff: Client, admin_user: Any, action: str) -> None:
    job = job_in("awaiting_upload", admin_user)
    response = run_action(staff, action, [job], confirm=False)
    assert "action_confirmation.html" in response.templates[0].name
    assert response.context["action"].name == action


def test_too_many_jobs_at_once_are_refused(staff: Client, admin_user: Any) -> None:
    jobs = [job_in("awaiting_upload", admin_user) for _ in range(MAX_JOBS_PER_ACTION + 1)]

    response = run_action(staff, "cancel_jobs", jobs)

    assert reported(response) == [
        (
            messages.ERROR,
            f"{MAX_JOBS_PER_ACTION + 1} jobs selected: select at most {MAX_JOBS_PER_ACTION} at a time "
            "(each one may cost an S3 request).",
        )
    ]
    assert VideoAnalysisJob.objects.filter(status=Status.CANCELLED).count() == 0
