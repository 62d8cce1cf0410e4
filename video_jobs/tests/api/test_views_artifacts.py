"""A finished job's artifacts in its API body, and GET /api/video-jobs/{id}/artifacts/{name}: a 302 to a
short-lived presigned GET that plain HTTP follows to the bytes (moto over HTTP)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import presign

pytestmark = pytest.mark.django_db


def artifact_url(job: VideoAnalysisJob, name: str) -> str:
    return f"/api/video-jobs/{job.pk}/artifacts/{name}"


def test_a_done_job_lists_its_poster_and_source_with_absolute_urls(api: APIClient, done_job: Any) -> None:
    body = api.get(f"/api/video-jobs/{done_job.pk}/").json()
    assert body["artifacts"] == [
        {
            "name": "poster.jpg",
            "content_type": "image/jpeg",
            "url": f"http://testserver{artifact_url(done_job, 'poster.jpg')}",
        },
        {
            "name": "source",
            "content_type": "video/mp4",
            "url": f"http://testserver{artifact_url(done_job, 'source')}",
        },
    ]


def test_a_job_without_results_lists_no_artifacts(api: APIClient) -> None:
    body = {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 10}
    created = api.post("/api/video-jobs/initiate/", body, format="json").json()
    assert created["artifacts"] == []
    assert api.get(f"/api/video-jobs/{created['id']}/").json()["artifacts"] == []


def test_the_poster_redirects_to_a_short_lived_presigned_get_that_serves_its_bytes(
    api: APIClient, done_job: Any, s3: Any
) -> None:
    response = api.get(artifact_url(done_job, "poster.jpg"))

    assert response.status_code == 302
    location = response["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == [str(presign.DOWNLOAD_URL_SECONDS)]
    assert query["response-content-type"] == ["image/jpeg"]
    fetched = requests.get(location, timeout=30)
    assert fetched.status_code == 200
    assert fetched.headers["Content-Type"] == "image/jpeg"
    stored = s3.get_object(Bucket=done_job.s3_bucket, Key=f"videos/{done_job.pk}/poster.jpg")["Body"].read()
    assert fetched.content == stored
    assert fetched.content[:2] == b"\xff\xd8"


def test_the_source_video_redirects_to_its_bytes(api: APIClient, done_job: Any, sample_video: bytes) -> None:
    response = api.get(artifact_url(done_job, "source"))
    assert response.status_code == 302
    fetched = requests.get(response["Location"], timeout=30)
    assert (fetched.status_code, fetched.headers["Content-Type"]) == (200, "video/mp4")
    assert fetched.content == sample_video


def test_a_session_follows_the_redirect_as_an_img_tag_would(client: Client, user: Any, done_job: Any) -> None:
    client.force_login(user)
    response = client.get(artifact_url(done_job, "poster.jpg"))
    assert response.status_code == 302
    assert requests.get(response["Location"], timeout=30).content[:2] == b"\xff\xd8"


def test_another_users_job_and_an_unknown_name_answer_404(
    api: APIClient, other_api: APIClient, done_job: Any
) -> None:
    assert other_api.get(artifact_url(done_job, "poster.jpg")).status_code == 404
    unknown = api.get(artifact_url(done_job, "videos%2Fsomething"))
    assert unknown.status_code == 404
    missing = api.get(artifact_url(done_job, "thumbnail.png"))
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "not_found"


def test_unauthenticated_calls_answer_401(done_job: Any) -> None:
    assert APIClient().get(artifact_url(done_job, "poster.jpg")).status_code == 401


def test_a_source_deleted_by_retention_is_no_artifact(api: APIClient, done_job: Any) -> None:
    VideoAnalysisJob.objects.filter(pk=done_job.pk).update(source_deleted_at=timezone.now())

    names = [artifact["name"] for artifact in api.get(f"/api/video-jobs/{done_job.pk}/").json()["artifacts"]]

    assert names == ["poster.jpg"]
    assert api.get(artifact_url(done_job, "source")).status_code == 404
