"""Uppy's S3 (Companion) routes, spoken as ``@uppy/aws-s3`` 6 speaks them (see uppy-contract notes in the
README): create, sign each part, PUT the bytes to moto over HTTP, list (resume), complete through the
upload-complete gate, abort; the one-request form POST; the path token as the only credential."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
import requests
import time_machine
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage
from video_jobs.uppy import tokens
from video_jobs.uppy.serializers import uppy_part_plan

from ..support.presigned import signed_headers
from ..support.s3_proxy import FaultyS3Proxy
from ..support.uppy_client import DATA, MIB, PART, SIZE, Uppy, job_of

pytestmark = pytest.mark.django_db

# --- multipart ---------------------------------------------------------------------------------------------


def test_create_makes_a_job_with_uppys_part_plan_and_answers_its_upload(uppy: Uppy, user: Any) -> None:
    response = uppy.create()

    assert response.status_code == 201
    body = response.json()
    job = VideoAnalysisJob.objects.get(owner=user)
    assert body == {"uploadId": job.upload_id, "key": job.s3_key, "bucket": job.s3_bucket}
    assert job.s3_key == storage.video_key(job.pk)  # the server's key, never the filename
    assert (job.filename, job.content_type, job.size_bytes) == ("nets.mp4", "video/mp4", SIZE)
    assert (job.part_size, job.part_count, job.status) == (PART, 3, "awaiting_upload")


def test_upload_with_resume_then_complete_queues_the_job(
    uppy: Uppy, upload: dict[str, str], api: Any
) -> None:
    first = uppy.put_part(upload, 1)
    # The page died after part 1; on retry Uppy lists what S3 holds and sends only the rest.
    listed = uppy.list_parts(upload)
    assert listed.status_code == 200
    assert [(p["PartNumber"], p["Size"]) for p in listed.json()] == [(1, PART)]
    assert listed.json()[0]["ETag"].strip('"') == first
    others = {number: uppy.put_part(upload, number) for number in (2, 3)}
    assert [p["PartNumber"] for p in uppy.list_parts(upload).json()] == [1, 2, 3]

    # Listed ETags come back quoted, this session's bare: one body mixes both.
    parts = [
        {"PartNumber": 1, "ETag": listed.json()[0]["ETag"]},
        *({"PartNumber": n, "ETag": etag} for n, etag in others.items()),
    ]
    response = uppy.complete(upload, parts)

    assert response.status_code == 200, response.json()
    job = job_of(upload)
    assert response.json() == {
        "location": f"http://testserver/api/video-jobs/{job.pk}/",
        "key": job.s3_key,
        "bucket": job.s3_bucket,
    }
    assert job.status == "queued"
    assert job.object_size == SIZE
    assert api.get(response.json()["location"]).json()["status"] == "queued"


def test_part_urls_sign_the_exact_content_length_and_nothing_uppy_cannot_send(
    uppy: Uppy, upload: dict[str, str]
) -> None:
    for number in (1, 3):
        signed = uppy.sign(upload, number)
        assert signed.status_code == 200
        assert signed.json()["expires"] == 3600
        url = signed.json()["url"]
        assert signed_headers(url) == {"host", "content-length"}
        assert f"partNumber={number}" in url
        assert f"uploadId={upload['uploadId']}" in url


def test_a_part_of_another_length_is_refused_by_a_real_store(user: Any, strict_s3: Any) -> None:
    uppy = Uppy(user)
    upload = uppy.create().json()
    url = uppy.sign(upload, 3).json()["url"]

    assert requests.put(url, data=b"x" * 8, timeout=30).status_code == 403
    assert requests.put(url, data=b"x" * 7, timeout=30).status_code == 200


def test_a_file_below_the_multipart_threshold_is_still_one_part_of_its_size(uppy: Uppy) -> None:
    upload = uppy.create(size=1000).json()
    assert (job_of(upload).part_size, job_of(upload).part_count) == (PART, 1)
    etag = uppy.put_part(upload, 1, data=DATA[:1000])
    assert uppy.complete(upload, [{"PartNumber": 1, "ETag": etag}]).status_code == 200
    assert job_of(upload).status == "queued"


@pytest.mark.parametrize(
    ("size", "part_size", "part_count"),
    [
        (1, PART, 1),
        (6 * MIB + 1, PART, 2),
        (10_000 * PART, PART, 10_000),
        (10_000 * PART + 1, math.ceil((10_000 * PART + 1) / 10_000), 10_000),
        (60 * 1024**3, math.ceil(60 * 1024**3 / 10_000), 10_000),
    ],
)
def test_the_part_plan_is_uppys_own(size: int, part_size: int, part_count: int) -> None:
    plan = uppy_part_plan(size)
    assert (plan.part_size, plan.part_count) == (part_size, part_count)


def test_complete_with_a_part_missing_answers_409_upload_incomplete(
    uppy: Uppy, upload: dict[str, str]
) -> None:
    etags = {number: uppy.put_part(upload, number) for number in (1, 3)}

    response = uppy.complete(upload, [{"PartNumber": n, "ETag": e} for n, e in etags.items()])

    assert response.status_code == 409
    assert response.json()["error_code"] == "upload_incomplete"
    assert response.json()["missing_parts"] == [2]
    assert job_of(upload).status == "awaiting_upload"


@pytest.mark.parametrize(
    "body",
    [{}, {"parts": "1"}, {"parts": [{"PartNumber": "1", "ETag": "x"}]}, {"parts": [{"PartNumber": 1}]}],
)
def test_complete_checks_the_body_as_companion_does(uppy: Uppy, upload: dict[str, str], body: Any) -> None:
    response = uppy.client.post(
        f"{uppy.base}/multipart/{upload['uploadId']}/complete?key={upload['key']}",
        body,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "invalid"
    assert job_of(upload).status == "awaiting_upload"


def test_complete_while_s3_cannot_answer_is_503_and_the_job_waits(user: Any, s3_proxy: FaultyS3Proxy) -> None:
    uppy = Uppy(user)
    upload = uppy.create().json()
    with s3_proxy.failing("GET"):
        response = uppy.complete(upload, [{"PartNumber": 1, "ETag": "x"}])
    assert response.status_code == 503
    assert response.json()["error_code"] == "storage_unavailable"
    assert response["Retry-After"]
    assert job_of(upload).status == "awaiting_upload"


def test_abort_cancels_the_job_and_aborts_the_upload(uppy: Uppy, upload: dict[str, str], s3: Any) -> None:
    uppy.put_part(upload, 1)

    response = uppy.abort(upload)

    assert (response.status_code, response.json()) == (200, {})
    job = job_of(upload)
    assert job.status == "cancelled"
    held = s3.list_multipart_uploads(Bucket=job.s3_bucket, Prefix=storage.job_folder(job.pk))
    assert held.get("Uploads", []) == []
    assert uppy.sign(upload, 2).json()["error_code"] == "parts_closed"
    assert uppy.sign(upload, 2).status_code == 409
    assert uppy.abort(upload).status_code == 200  # again: still cancelled


def test_complete_of_a_cancelled_job_answers_409_job_cancelled(
    uppy: Uppy, upload: dict[str, str], api: APIClient
) -> None:
    job = job_of(upload)
    assert api.post(f"/api/video-jobs/{job.pk}/cancel/").status_code == 200

    response = uppy.complete(upload, [{"PartNumber": 1, "ETag": "x"}])

    assert response.status_code == 409
    assert response.json()["error_code"] == "job_cancelled"
    assert response.json()["location"] == f"http://testserver/api/video-jobs/{job.pk}/"


def test_abort_after_the_upload_completed_cancels_nothing(uppy: Uppy) -> None:
    upload = uppy.create(size=10).json()
    etag = uppy.put_part(upload, 1, data=DATA[:10])
    assert uppy.complete(upload, [{"PartNumber": 1, "ETag": etag}]).status_code == 200
    response = uppy.abort(upload)
    assert (response.status_code, response.json()["error_code"]) == (409, "upload_closed")
    assert job_of(upload).status == "queued"


def test_a_known_upload_id_with_another_key_or_another_users_token_is_404(
    upload: dict[str, str], other_user: Any, uppy: Uppy
) -> None:
    intruder = Uppy(other_user)
    for response in (
        intruder.sign(upload, 1),
        intruder.list_parts(upload),
        intruder.complete(upload, [{"PartNumber": 1, "ETag": "x"}]),
        intruder.abort(upload),
        uppy.sign({**upload, "key": "videos/other/source"}, 1),
        uppy.sign({**upload, "uploadId": "made-up"}, 1),
    ):
        assert response.status_code == 404
        assert response.json()["error_code"] == "not_found"
    assert job_of(upload).status == "awaiting_upload"


def test_an_upload_id_or_key_no_upload_can_have_answers_the_json_404(
    uppy: Uppy, upload: dict[str, str]
) -> None:
    # A newline once fell out of the route (Django's HTML 404); PostgreSQL refuses a NUL in a query.
    for response in (
        uppy.list_parts({**upload, "uploadId": "made%0Aup"}),
        uppy.sign({**upload, "uploadId": "made%0Aup"}, 1),
        uppy.list_parts({**upload, "key": "videos/\x00"}),
        uppy.abort({**upload, "uploadId": "%00"}),
    ):
        assert response.status_code == 404
        assert response.json()["error_code"] == "not_found"


def test_a_part_number_outside_the_plan_is_400(uppy: Uppy, upload: dict[str, str]) -> None:
    response = uppy.sign(upload, 4)
    assert response.status_code == 400
    assert response.json()["errors"]["partNumber"]


# --- create: the initiate endpoint's checks, quota and idempotency ------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"metadata": {"name": "x.mp4"}}, "metadata.size"),
        ({"metadata": {"size": 0}}, "metadata.size"),
        ({"metadata": {"size": "lots"}}, "metadata.size"),
        ({"metadata": {"size": 10 * 1024**4}}, "metadata.size"),
        ({"type": "text/plain"}, "type"),
        ({"filename": ""}, "filename"),
        ({"metadata": {"size": 10, "sha256": "ABC"}}, "metadata.sha256"),
    ],
)
def test_create_refuses_what_initiate_refuses(uppy: Uppy, user: Any, change: Any, field: str) -> None:
    body = {"filename": "nets.mp4", "type": "video/mp4", "metadata": {"size": SIZE}, **change}
    response = uppy.client.post(f"{uppy.base}/multipart", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error_code"] == "invalid"
    assert field in response.json()["errors"]
    assert not VideoAnalysisJob.objects.filter(owner=user).exists()


@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=1)
def test_create_beyond_the_quota_is_429(uppy: Uppy) -> None:
    assert uppy.create().status_code == 201
    response = uppy.create()
    assert response.status_code == 429
    assert response.json()["error_code"] == "quota_exceeded"
    assert response["Retry-After"]


def test_a_retried_create_with_the_same_file_id_returns_the_same_job(uppy: Uppy, user: Any) -> None:
    first = uppy.create(file_id="uppy-nets/mp4-1e-video/mp4-10485767-1700000000000")
    again = uppy.create(file_id="uppy-nets/mp4-1e-video/mp4-10485767-1700000000000")
    other = uppy.create(file_id="uppy-nets/mp4-1e-video/mp4-10485767-1700000009999")

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.json() == again.json() != other.json()
    assert VideoAnalysisJob.objects.filter(owner=user).count() == 2


def test_a_session_page_needs_no_csrf_token(user: Any) -> None:
    page = Client(enforce_csrf_checks=True)
    page.force_login(user)  # the session cookie rides along, as on our page; no X-CSRFToken
    response = Uppy(user, page).create()
    assert response.status_code == 201


def test_a_pages_token_answers_only_beside_its_session_and_dies_at_logout(user: Any) -> None:
    page = Uppy(user)
    assert page.create().status_code == 201
    # The same token from another browser (or copied from a log): no session, or another one of the user's.
    for stranger in (Client(enforce_csrf_checks=True), Uppy(user).client):
        elsewhere = Uppy(user, stranger)
        elsewhere.base = page.base
        assert elsewhere.create().status_code == 403
    page.client.logout()  # what /app/logout/ does: the session ends
    response = page.create()
    assert (response.status_code, response.json()["error_code"]) == (403, "uppy_token_invalid")


def test_an_endpoint_bound_to_an_api_token_dies_with_it(api: APIClient, user: Any) -> None:
    endpoint = api.get("/api/uppy/endpoint/").json()["companion_endpoint"]
    uppy = Uppy(user, Client(enforce_csrf_checks=True))  # a script: no session at all
    uppy.base = endpoint.removeprefix("http://testserver") + "/s3"
    assert uppy.create().status_code == 201
    Token.objects.filter(user=user).delete()  # revoked (the admin's API tokens page does this)
    assert uppy.create().status_code == 403


# --- the token ---------------------------------------------------------------------------------------------


def test_a_forged_token_is_refused(user: Any, upload: dict[str, str]) -> None:
    forged = Uppy(user)
    forged.base = forged.base.replace("/api/uppy/", "/api/uppy/x")
    for response in (forged.create(), forged.sign(upload, 1), forged.abort(upload)):
        assert response.status_code == 403
        assert response.json()["error_code"] == "uppy_token_invalid"
    assert job_of(upload).status == "awaiting_upload"


@override_settings(VIDEO_JOBS_UPPY_TOKEN_MAX_AGE=600)
def test_an_expired_token_is_refused(uppy: Uppy, user: Any) -> None:
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        response = uppy.create()
    assert (response.status_code, response.json()["error_code"]) == (403, "uppy_token_invalid")
    assert not VideoAnalysisJob.objects.filter(owner=user).exists()


def test_the_endpoint_call_hands_out_a_working_companion_endpoint(api: APIClient, user: Any) -> None:
    response = api.get("/api/uppy/endpoint/")

    assert response.status_code == 200
    endpoint = response.json()["companion_endpoint"]
    assert endpoint.startswith("http://testserver/api/uppy/")
    assert tokens.user_for(endpoint.rsplit("/", 1)[1]) == user  # bound to the API token, not a session
    assert response.json()["expires_at"]
    uppy = Uppy(user)
    uppy.base = endpoint.removeprefix("http://testserver") + "/s3"
    assert uppy.create().status_code == 201


def test_the_endpoint_call_takes_a_session_and_refuses_strangers(client: Client, user: Any) -> None:
    assert client.get("/api/uppy/endpoint/").status_code == 401
    client.force_login(user)
    assert client.get("/api/uppy/endpoint/").status_code == 200
