"""The REST API of multipart uploads: initiate's plan, the parts endpoints, upload-complete's 409
``upload_incomplete``. (Kept beside test_views.py, which covers every other path.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.test import override_settings
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

MIB = 1024**2
PART = 5 * MIB
SIZE = 2 * PART + 7  # three parts, the last of 7 bytes


@pytest.fixture(autouse=True)
def _small_parts() -> Iterator[None]:
    with override_settings(VIDEO_JOBS_MULTIPART_THRESHOLD=MIB, VIDEO_JOBS_PART_SIZE=PART):
        yield


def initiate(api: APIClient, size: int = SIZE) -> Any:
    body = {"filename": "match.mp4", "content_type": "video/mp4", "size_bytes": size}
    return api.post("/api/video-jobs/initiate/", body, format="json")


def parts_url(job_id: str) -> str:
    return f"/api/video-jobs/{job_id}/parts/"


@pytest.fixture
def job_id(api: APIClient) -> str:
    response = initiate(api)
    assert response.status_code == 201, response.json()
    return str(response.json()["id"])


def test_initiate_over_the_threshold_answers_a_part_plan(api: APIClient) -> None:
    response = initiate(api)
    assert response.status_code == 201
    upload = response.json()["upload"]
    assert upload["method"] == "multipart"
    assert (upload["part_size"], upload["part_count"]) == (PART, 3)
    assert upload["expires_at"] == response.json()["upload_deadline"]
    assert "url" not in upload


def test_initiate_under_the_threshold_keeps_the_single_put(api: APIClient) -> None:
    upload = initiate(api, size=MIB).json()["upload"]
    assert upload["method"] == "PUT"
    assert upload["headers"]["Content-Length"] == str(MIB)


def test_part_urls_sign_each_parts_exact_size_and_can_be_asked_again(api: APIClient, job_id: str) -> None:
    response = api.post(parts_url(job_id), {"part_numbers": [1, 3]}, format="json")
    assert response.status_code == 200
    parts = response.json()["parts"]
    assert [(p["part_number"], p["headers"]) for p in parts] == [
        (1, {"Content-Length": str(PART)}),
        (3, {"Content-Length": "7"}),
    ]
    again = api.post(parts_url(job_id), {"part_numbers": [1]}, format="json").json()["parts"]
    assert again[0]["part_number"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"part_numbers": [0]},
        {"part_numbers": [4]},
        {"part_numbers": []},
        {"part_numbers": list(range(1, 102))},
        {"part_numbers": ["one"]},
        {},
    ],
)
def test_part_numbers_outside_the_plan_or_too_many_answer_400(api: APIClient, job_id: str, body: Any) -> None:
    response = api.post(parts_url(job_id), body, format="json")
    assert response.status_code == 400
    assert "part_numbers" in response.json()


def test_get_parts_lists_what_s3_holds(api: APIClient, job_id: str) -> None:
    url = api.post(parts_url(job_id), {"part_numbers": [3]}, format="json").json()["parts"][0]
    assert requests.put(url["url"], data=b"x" * 7, headers=url["headers"], timeout=30).status_code == 200

    response = api.get(parts_url(job_id))

    assert response.status_code == 200
    [held] = response.json()["parts"]
    assert (held["part_number"], held["size"]) == (3, 7)
    assert held["etag"]


def test_upload_complete_with_parts_missing_answers_409_upload_incomplete(
    api: APIClient, job_id: str
) -> None:
    response = api.post(f"/api/video-jobs/{job_id}/upload-complete/")
    assert response.status_code == 409
    body = response.json()
    assert (body["error_code"], body["missing_parts"]) == ("upload_incomplete", [1, 2, 3])
    assert api.get(f"/api/video-jobs/{job_id}/").json()["status"] == "awaiting_upload"


def test_parts_of_a_job_that_no_longer_awaits_its_upload_answer_409(api: APIClient, job_id: str) -> None:
    assert api.post(f"/api/video-jobs/{job_id}/cancel/").status_code == 200
    for response in (
        api.get(parts_url(job_id)),
        api.post(parts_url(job_id), {"part_numbers": [1]}, format="json"),
    ):
        assert response.status_code == 409
        assert response.json()["error_code"] == "parts_closed"


def test_a_single_put_job_takes_no_parts(api: APIClient) -> None:
    small = initiate(api, size=MIB).json()["id"]
    assert api.get(parts_url(small)).status_code == 409


def test_another_users_job_has_no_parts(other_api: APIClient, job_id: str) -> None:
    assert other_api.get(parts_url(job_id)).status_code == 404
    assert other_api.post(parts_url(job_id), {"part_numbers": [1]}, format="json").status_code == 404
