"""Reading, listing, cancelling and deleting jobs: each caller sees and touches only their own; other users',
unknown and malformed ids all answer 404."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage

from ..support.api_requests import JOB_BODY_FIELDS, complete
from ..support.jobs import VIDEO, make_job

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


def test_get_returns_the_job(api: APIClient, user: Any) -> None:
    job = make_job(user)
    response = api.get(f"/api/video-jobs/{job.pk}/")
    assert response.status_code == 200
    assert response.json().keys() >= JOB_BODY_FIELDS
    assert "s3_key" not in response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/api/video-jobs/{other}/",
        "/api/video-jobs/{other}/upload-complete/",
        "/api/video-jobs/{other}/cancel/",
        "/api/video-jobs/{unknown}/",
        "/api/video-jobs/{unknown}/upload-complete/",
        "/api/video-jobs/not-a-uuid/",
        "/api/video-jobs/not-a-uuid/upload-complete/",
        "/api/video-jobs/1.2/cancel/",
    ],
)
def test_other_users_unknown_and_malformed_ids_all_answer_404(
    api: APIClient, other_user: Any, path: str
) -> None:
    theirs = make_job(other_user)
    url = path.format(other=theirs.pk, unknown=uuid.uuid4())
    is_action = url.endswith(("/upload-complete/", "/cancel/"))
    response = api.post(url) if is_action else api.get(url)
    assert response.status_code == 404
    assert response.json() == {"error_code": "not_found", "detail": "Not found."}
    theirs.refresh_from_db()
    assert theirs.status == "awaiting_upload"


def test_list_shows_only_the_callers_jobs_newest_first(api: APIClient, other_user: Any, user: Any) -> None:
    first = make_job(user, filename="first.mp4")
    second = make_job(user, filename="second.mp4")
    make_job(other_user)
    response = api.get("/api/video-jobs/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [job["id"] for job in body["results"]] == [str(second.pk), str(first.pk)]


def test_list_leaves_results_out_and_the_job_itself_has_its_result(api: APIClient, user: Any) -> None:
    result = {"motion": {"timeline": [1.0] * 600, "segment_count": 7}, "video": {"duration_seconds": 83.5}}
    job = make_job(user, Status.DONE, progress=100, result={**result, "poster": {"artifact": "poster.jpg"}})
    failed = make_job(user, Status.FAILED, result=result)

    listed, other = api.get("/api/video-jobs/").json()["results"][::-1]
    body = api.get(f"/api/video-jobs/{job.pk}/").json()

    fields = JOB_BODY_FIELDS - {"result"} | {"sha256", "upload_deadline", "source_deleted_at", "overview"}
    assert set(listed) == fields
    assert listed["status"] == "done"
    assert body["result"]["motion"] == result["motion"]
    # What a list row shows of a done job, read from its result by the database.
    assert listed["overview"] == {
        "duration_seconds": 83.5,
        "segment_count": 7,
        "poster_url": f"http://testserver/api/video-jobs/{job.pk}/artifacts/poster.jpg",
    }
    assert (other["id"], other["overview"]) == (str(failed.pk), None)


def test_list_filters_by_status(api: APIClient, user: Any) -> None:
    queued = make_job(user, Status.QUEUED)
    make_job(user)
    response = api.get("/api/video-jobs/?status=queued")
    assert [job["id"] for job in response.json()["results"]] == [str(queued.pk)]
    assert api.get("/api/video-jobs/?status=awaiting_upload").json()["count"] == 1


def test_list_rejects_an_unknown_status(api: APIClient) -> None:
    response = api.get("/api/video-jobs/?status=bogus")
    assert response.status_code == 400
    assert "status" in response.json()


def test_list_is_paginated(api: APIClient, user: Any) -> None:
    for index in range(3):
        make_job(user, filename=f"{index}.mp4")
    body = api.get("/api/video-jobs/?page_size=2").json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]
    assert len(api.get(body["next"]).json()["results"]) == 1


@pytest.mark.parametrize("status", ["awaiting_upload", "queued"])
def test_cancel_before_processing_cancels(api: APIClient, user: Any, status: str) -> None:
    job = make_job(user, status)
    response = api.post(f"/api/video-jobs/{job.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"]


@pytest.mark.parametrize("status", ["processing", "done", "failed"])
def test_cancel_after_processing_started_is_a_conflict(api: APIClient, user: Any, status: str) -> None:
    job = make_job(user, status)
    response = api.post(f"/api/video-jobs/{job.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["status"] == status


def test_cancel_twice_answers_200_both_times(api: APIClient, user: Any) -> None:
    job = make_job(user)
    assert api.post(f"/api/video-jobs/{job.pk}/cancel/").status_code == 200
    assert api.post(f"/api/video-jobs/{job.pk}/cancel/").status_code == 200


def test_delete_removes_the_job_and_its_objects(api: APIClient, user: Any, put_video: Any, s3: Any) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    assert complete(api, job.pk).status_code == 200

    response = api.delete(f"/api/video-jobs/{job.pk}/")

    assert response.status_code == 204
    assert api.get(f"/api/video-jobs/{job.pk}/").status_code == 404
    assert s3.list_objects_v2(Bucket=job.s3_bucket, Prefix=storage.job_folder(job.pk)).get("KeyCount") == 0


def test_delete_of_a_processing_job_is_a_conflict(api: APIClient, user: Any) -> None:
    job = make_job(user, Status.PROCESSING)
    response = api.delete(f"/api/video-jobs/{job.pk}/")
    assert response.status_code == 409
    assert response.json()["status"] == "processing"


def test_delete_with_s3_down_answers_503_and_keeps_the_job(api: APIClient, user: Any) -> None:
    job = make_job(user)
    with override_settings(AWS_S3_ENDPOINT_URL="http://127.0.0.1:9"):  # nothing listens on the discard port
        response = api.delete(f"/api/video-jobs/{job.pk}/")
    assert response.status_code == 503
    assert response.json()["error_code"] == "storage_unavailable"
    assert response.headers["Retry-After"]
    assert api.get(f"/api/video-jobs/{job.pk}/").json()["status"] == "cancelled"
    assert api.delete(f"/api/video-jobs/{job.pk}/").status_code == 204


def test_another_users_job_cannot_be_deleted(api: APIClient, user: Any, other_api: APIClient) -> None:
    job = make_job(user)
    assert other_api.delete(f"/api/video-jobs/{job.pk}/").status_code == 404
    assert VideoAnalysisJob.objects.filter(pk=job.pk).exists()
