"""The coaches' pages as the server renders them: login, the uploader's configuration, owner scoping."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client, override_settings
from django.utils import timezone

from video_jobs.models import VideoAnalysisJob
from video_jobs.uppy.tokens import user_for

from ..support.jobs import make_job

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


def json_script(html: str, element_id: str) -> Any:
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert found, f"no json_script {element_id}"
    return json.loads(found.group(1))


@pytest.fixture
def coach(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/app/", f"/app/jobs/{uuid.uuid4()}/"])
def test_the_pages_send_an_anonymous_visitor_to_the_login_page(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/app/login/?next={path}"


def test_a_coach_logs_in_and_lands_on_the_uploader(client: Client, user: Any) -> None:
    page = client.get("/app/login/?next=/app/")
    assert page.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in page.content
    response = client.post("/app/login/", {"username": "alice", "password": "pw-alice-123", "next": "/app/"})
    assert (response.status_code, response["Location"]) == (302, "/app/")
    assert client.get("/app/").status_code == 200


def test_a_wrong_password_is_refused_in_words(client: Client, user: Any) -> None:
    response = client.post("/app/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_logging_out_takes_a_post_and_ends_the_session(coach: Client) -> None:
    response = coach.post("/app/logout/")
    assert (response.status_code, response["Location"]) == (302, "/app/login/")
    assert coach.get("/app/").status_code == 302


def test_staff_leaving_the_admin_stay_in_the_admin(staff: Client) -> None:
    response = staff.post("/admin/logout/")
    assert response.status_code == 200
    assert "Logged out" in response.content.decode()


@override_settings(VIDEO_JOBS_MULTIPART_THRESHOLD=12345, VIDEO_JOBS_MAX_UPLOAD_BYTES=999_999)
def test_the_uploader_gets_its_endpoint_limits_and_urls_from_the_server(coach: Client, user: Any) -> None:
    response = coach.get("/app/")
    html = response.content.decode()
    config = json_script(html, "uploader-config")
    assert config["multipartThreshold"] == 12345
    assert config["maxFileSize"] == 999_999
    assert config["allowedFileTypes"][0] == "video/*"
    assert "video/mp4" in config["allowedFileTypes"]
    assert (config["jobsUrl"], config["appUrl"]) == ("/api/video-jobs/", "/app/")
    # The Uppy endpoint carries the user's own capability token, bound to this session, and no trailing slash
    # (Uppy appends /s3/...).
    prefix, _, token = config["companionEndpoint"].rpartition("/")
    assert prefix == "/api/uppy"
    assert user_for(token, session=coach.session) == user
    assert user_for(token) is None
    # Nothing on the page is kept by a cache or the back button after logout.
    assert "no-store" in response["Cache-Control"]
    assert "no-store" in coach.get(f"/app/jobs/{make_job(user).pk}/")["Cache-Control"]
    # The page's POSTs to the API send the CSRF cookie's token, so the page makes sure there is one.
    assert "csrftoken" in response.cookies
    # The bundle and the page's script come from static files, never a CDN.
    assert '/static/video_jobs/vendor/cricksy-app.js"' in html
    assert '/static/video_jobs/app/uploader.js"' in html
    assert "https://" not in html


def test_a_job_page_shows_the_jobs_state_and_its_error_in_words(coach: Client, user: Any) -> None:
    job = make_job(user, Status.FAILED, error_message="The file is not in a video container format.")
    html = coach.get(f"/app/jobs/{job.pk}/").content.decode()
    assert json_script(html, "job-config") == {"jobUrl": f"/api/video-jobs/{job.pk}/", "appUrl": "/app/"}
    assert 'data-status="failed"' in html
    assert "The file is not in a video container format." in html
    assert 'href="/api/docs/"' in html
    assert "/admin/" not in html  # not staff


def test_staff_see_the_admin_links_on_a_job_page(client: Client, admin_user: Any) -> None:
    client.force_login(admin_user)
    job = make_job(admin_user, Status.DONE)
    html = client.get(f"/app/jobs/{job.pk}/").content.decode()
    assert f'href="/admin/video_jobs/videoanalysisjob/{job.pk}/change/"' in html
    assert 'href="/admin/"' in html


def test_another_users_job_is_not_found_like_an_unknown_one(coach: Client, other_user: Any) -> None:
    theirs = make_job(other_user, Status.DONE)
    assert coach.get(f"/app/jobs/{theirs.pk}/").status_code == 404
    assert coach.get(f"/app/jobs/{uuid.uuid4()}/").status_code == 404
    assert coach.get("/app/jobs/not-a-uuid/").status_code == 404


@override_settings(AXES_FAILURE_LIMIT=3)
@pytest.mark.parametrize("login", ["/app/login/", "/admin/login/"])
def test_repeated_wrong_passwords_lock_that_login_out_for_a_while(
    client: Client, django_user_model: Any, login: str
) -> None:
    django_user_model.objects.create_user(username="coach", password="pw-coach-123", is_staff=True)
    django_user_model.objects.create_user(username="other", password="pw-other-123", is_staff=True)
    for _ in range(2):
        assert client.post(login, {"username": "coach", "password": "nope"}).status_code == 200
    assert client.post(login, {"username": "coach", "password": "nope"}).status_code == 429
    # Locked out: even the right password is refused until the cool-off ends; other users are not.
    assert client.post(login, {"username": "coach", "password": "pw-coach-123"}).status_code == 429
    assert client.post(login, {"username": "other", "password": "pw-other-123"}).status_code == 302
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert client.post(login, {"username": "coach", "password": "pw-coach-123"}).status_code == 302
