"""Who may reach the job admin: not anonymous users, not users who are not staff, not staff without
permissions; staff who may only view get no actions; nobody adds a job by hand."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client

from video_jobs.models import VideoAnalysisJob

from ..support.admin_actions import CHANGELIST, STUCK
from ..support.jobs import make_job

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


def test_jobs_cannot_be_added_by_hand(staff: Client) -> None:
    assert staff.get(f"{CHANGELIST}add/").status_code == 403


def test_anonymous_users_are_sent_to_the_login_page(client: Client) -> None:
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_non_staff_users_cannot_reach_the_admin(client: Client, user: Any) -> None:
    job = make_job(user, Status.AWAITING_UPLOAD, age=STUCK)
    client.force_login(user)

    assert client.get(CHANGELIST)["Location"].startswith("/admin/login/")
    response = client.post(CHANGELIST, {"action": "cancel_jobs", "_selected_action": [job.pk], "post": "yes"})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    job.refresh_from_db()
    assert job.status == Status.AWAITING_UPLOAD


def test_staff_without_permissions_are_refused(client: Client, django_user_model: Any) -> None:
    clerk = django_user_model.objects.create_user(username="clerk", is_staff=True)
    client.force_login(clerk)
    assert client.get(CHANGELIST).status_code == 403


def test_staff_who_may_only_view_get_no_recovery_actions(client: Client, django_user_model: Any) -> None:
    viewer = django_user_model.objects.create_user(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_videoanalysisjob"))
    job = make_job(viewer, Status.AWAITING_UPLOAD, age=STUCK)
    client.force_login(viewer)

    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert response.context["action_form"] is None or not [
        name for name, _ in response.context["action_form"].fields["action"].choices if name
    ]
    client.post(CHANGELIST, {"action": "cancel_jobs", "_selected_action": [job.pk], "post": "yes"})
    job.refresh_from_db()
    assert job.status == Status.AWAITING_UPLOAD
    assert LogEntry.objects.count() == 0
