"""What a newcomer types: every API route with or without its trailing slash, JSON errors for everything
under /api/ (an unknown route, an oversized body), ``/`` leading to the coaches' page and ``/api/`` to an
index of the API's docs."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from video_jobs.models import VideoAnalysisJob

from ..support.jobs import VIDEO
from ..support.uppy_client import Uppy

pytestmark = pytest.mark.django_db

NEW_JOB = {"filename": "nets.mp4", "content_type": "video/mp4", "size_bytes": len(VIDEO)}


def test_every_route_answers_without_its_trailing_slash_as_with_it(api: APIClient, user: Any) -> None:
    created = api.post("/api/video-jobs/initiate", NEW_JOB, format="json")
    assert created.status_code == 201, created.content
    job = created.json()["id"]

    assert api.get("/api/video-jobs").json()["count"] == 1
    assert api.get(f"/api/video-jobs/{job}").json()["id"] == job
    cancelled = api.post(f"/api/video-jobs/{job}/cancel")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert api.get("/api/uppy/endpoint").status_code == 200
    assert api.get("/api/schema").status_code == 200
    assert api.get("/api/webhook-endpoints").status_code == 200


def test_routes_without_a_trailing_slash_answer_with_one_too(uppy: Uppy, user: Any) -> None:
    body = {"filename": "nets.mp4", "type": "video/mp4", "metadata": {"size": 12 * 1024**2}}
    created = uppy.client.post(f"{uppy.base}/multipart/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert VideoAnalysisJob.objects.filter(owner=user).count() == 1
    upload = created.json()
    signed = uppy.client.get(f"{uppy.base}/multipart/{upload['uploadId']}/1/", {"key": upload["key"]})
    assert signed.status_code == 200, signed.content
    listed = uppy.client.get(f"{uppy.base}/multipart/{upload['uploadId']}/", {"key": upload["key"]})
    assert (listed.status_code, listed.json()) == (200, [])
    completed = uppy.client.post(
        f"{uppy.base}/multipart/{upload['uploadId']}/complete/?key={upload['key']}",
        {"parts": []},
        content_type="application/json",
    )
    assert (completed.status_code, completed.json()["error_code"]) == (409, "upload_incomplete")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/nothing-here/"),
        ("post", "/api/video-jobs/initiate/extra"),
        ("get", "/api/video-jobs/x/y/z/"),
        ("delete", "/api/uppy/"),
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_route_under_api_answers_the_json_error_body(
    api: APIClient, method: str, path: str, debug: bool
) -> None:
    with override_settings(DEBUG=debug):  # make run's DEBUG would answer Django's HTML page
        response = getattr(api, method)(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error_code"] == "not_found"


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_an_oversized_body_answers_the_json_error_body(api: APIClient, content_type: str) -> None:
    body = '{"filename": "' + "a" * 3_000_000 + '"}'
    if content_type != "application/json":
        body = "filename=" + "a" * 3_000_000
    response = api.post("/api/video-jobs/initiate/", body, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["error_code"] == "request_too_large"


def test_an_oversized_body_on_the_uppy_routes_answers_their_error_body(uppy: Uppy) -> None:
    body = '{"filename": "' + "a" * 3_000_000 + '"}'
    response = uppy.client.post(f"{uppy.base}/multipart", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error_code"] == "request_too_large"


def test_the_site_root_leads_to_the_coaches_page(client: Client) -> None:
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/app/")


def test_api_is_an_index_of_the_docs_and_the_schema(client: Client) -> None:
    for path in ("/api/", "/api"):
        response = client.get(path)
        assert response.status_code == 200
        links = response.json()
        assert links["docs"] == "http://testserver/api/docs/"
        assert links["schema"] == "http://testserver/api/schema/"
        assert links["video_jobs"] == "http://testserver/api/video-jobs/"
        for url in links.values():
            if url.startswith("http://testserver/"):
                assert client.get(url.removeprefix("http://testserver")).status_code in (200, 302, 401), url
