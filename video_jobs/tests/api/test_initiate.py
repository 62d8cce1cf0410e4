"""POST initiate: a job awaiting its upload with a presigned PUT bound to what was declared; bad input of
every field; Idempotency-Key replays and conflicts; the quota beyond which it answers 429."""

from __future__ import annotations

import base64
import urllib.request
from typing import Any

import pytest
from botocore.config import Config as BotoConfig
from django.test import override_settings
from rest_framework.test import APIClient

from video_jobs.models import VideoAnalysisJob

from ..support.api_requests import INITIATE, JOB_BODY_FIELDS, complete, initiate
from ..support.jobs import VIDEO, make_job
from ..support.presigned import signed_headers

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


def test_initiate_creates_a_job_awaiting_upload_with_a_presigned_put(api: APIClient) -> None:
    response = initiate(api, sha256="ab" * 32)

    assert response.status_code == 201
    body = response.json()
    assert body.keys() >= JOB_BODY_FIELDS
    assert body["status"] == "awaiting_upload"
    assert body["stage"] == "awaiting_upload"
    assert body["progress"] == 0
    assert body["size_bytes"] == len(VIDEO)
    upload = body["upload"]
    assert upload["method"] == "PUT"
    # S3 itself holds the PUT to what was declared: the signature covers these headers, with these values.
    assert upload["headers"] == {
        "Content-Type": "video/mp4",
        "Content-Length": str(len(VIDEO)),
        "x-amz-checksum-sha256": base64.b64encode(bytes.fromhex("ab" * 32)).decode(),
    }
    signed = {"host", "content-type", "content-length", "x-amz-checksum-sha256"}
    assert signed_headers(upload["url"]) == signed
    assert upload["expires_at"]
    job = VideoAnalysisJob.objects.get(pk=body["id"])
    assert job.s3_key == f"videos/{job.pk}/source"
    assert job.sha256 == "ab" * 32


def test_initiate_answers_503_rather_than_hand_out_a_url_that_binds_nothing(api: APIClient) -> None:
    # A client set to sign SigV2-style URLs (botocore's default for us-east-1) could bind neither the size
    # nor the checksum.
    with override_settings(AWS_S3_CLIENT_CONFIG=BotoConfig(s3={"addressing_style": "path"})):
        response = initiate(api, idempotency_key="retry-me")

    assert response.status_code == 503
    assert response.json()["error_code"] == "storage_unavailable"
    assert response.headers["Retry-After"] == "5"
    retried = initiate(api, idempotency_key="retry-me")
    assert retried.status_code == 200  # the same job, now with a URL
    assert signed_headers(retried.json()["upload"]["url"]) == {"host", "content-type", "content-length"}


def test_filename_is_never_used_as_a_storage_path(api: APIClient) -> None:
    response = initiate(api, filename="../../etc/passwd\u202e ünïcode 🏏.mp4")
    assert response.status_code == 201, response.json()
    job = VideoAnalysisJob.objects.get(pk=response.json()["id"])
    assert job.filename == "../../etc/passwd\u202e ünïcode 🏏.mp4"
    assert job.s3_key == f"videos/{job.pk}/source"


def test_the_whole_flow_initiate_put_complete_queues_the_job(api: APIClient) -> None:
    body = initiate(api).json()
    upload = body["upload"]
    request = urllib.request.Request(upload["url"], data=VIDEO, method="PUT", headers=upload["headers"])
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    response = complete(api, body["id"])

    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    job = VideoAnalysisJob.objects.get(pk=body["id"])
    assert job.object_size == len(VIDEO)
    assert job.object_etag
    assert job.verified_at is not None
    assert job.queued_at is not None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"filename": ""}, "filename"),
        ({"filename": "x" * 256}, "filename"),
        ({"filename": None}, "filename"),
        ({"filename": "a\x00b.mp4"}, "filename"),
        ({"content_type": "image/png"}, "content_type"),
        ({"content_type": "text/html"}, "content_type"),
        ({"content_type": ""}, "content_type"),
        ({"content_type": 42}, "content_type"),
        ({"size_bytes": 0}, "size_bytes"),
        ({"size_bytes": -1}, "size_bytes"),
        ({"size_bytes": "lots"}, "size_bytes"),
        ({"size_bytes": 1.5}, "size_bytes"),
        ({"size_bytes": None}, "size_bytes"),
        ({"size_bytes": 50 * 1024**3 + 1}, "size_bytes"),
        ({"size_bytes": 10**40}, "size_bytes"),
        ({"size_bytes": [1]}, "size_bytes"),
        ({"sha256": "AB" * 32}, "sha256"),
        ({"sha256": "ab" * 31}, "sha256"),
        ({"sha256": "zz" * 32}, "sha256"),
        ({"sha256": 123}, "sha256"),
    ],
)
def test_initiate_rejects_bad_input_with_a_field_error(
    api: APIClient, overrides: dict[str, Any], field: str
) -> None:
    response = initiate(api, **overrides)
    assert response.status_code == 400
    assert field in response.json()
    assert VideoAnalysisJob.objects.count() == 0


@pytest.mark.parametrize("missing", ["filename", "content_type", "size_bytes"])
def test_initiate_requires_each_field(api: APIClient, missing: str) -> None:
    body = {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 10}
    del body[missing]
    response = api.post(INITIATE, body, format="json")
    assert response.status_code == 400
    assert missing in response.json()


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"{not json", b"null"])
def test_initiate_rejects_a_body_that_is_not_an_object(api: APIClient, raw: bytes) -> None:
    response = api.post(INITIATE, raw, content_type="application/json")
    assert response.status_code == 400


def test_initiate_respects_the_configured_limits(api: APIClient) -> None:
    with override_settings(VIDEO_JOBS_MAX_UPLOAD_BYTES=100, VIDEO_JOBS_ALLOWED_CONTENT_TYPES=["video/webm"]):
        assert initiate(api, size_bytes=101, content_type="video/webm").status_code == 400
        assert initiate(api, size_bytes=100, content_type="video/mp4").status_code == 400
        assert initiate(api, size_bytes=100, content_type="Video/WebM").status_code == 201


def test_initiate_with_the_same_idempotency_key_returns_the_same_job(api: APIClient) -> None:
    first = initiate(api, idempotency_key="retry-me")
    second = initiate(api, idempotency_key="retry-me")

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["upload"]["url"]
    assert VideoAnalysisJob.objects.count() == 1


def test_an_idempotency_key_reused_with_other_data_is_a_conflict(api: APIClient) -> None:
    initiate(api, idempotency_key="k1")
    response = initiate(api, idempotency_key="k1", size_bytes=999)
    assert response.status_code == 409
    assert response.json()["error_code"] == "idempotency_key_reused"
    assert VideoAnalysisJob.objects.count() == 1


def test_an_idempotency_key_belongs_to_the_user_who_sent_it(api: APIClient, other_api: APIClient) -> None:
    mine = initiate(api, idempotency_key="shared")
    theirs = initiate(other_api, idempotency_key="shared")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]


def test_an_overlong_idempotency_key_is_rejected(api: APIClient) -> None:
    response = initiate(api, idempotency_key="k" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()


def test_idempotent_replay_of_a_queued_job_has_no_upload_url(api: APIClient, user: Any) -> None:
    make_job(user, Status.QUEUED, idempotency_key="done-already", filename="replayed.mp4")
    replay = initiate(api, idempotency_key="done-already", filename="replayed.mp4")
    assert replay.status_code == 200
    assert replay.json()["status"] == "queued"
    assert replay.json()["upload"] is None


@override_settings(VIDEO_JOBS_MAX_PENDING_UPLOADS=1, VIDEO_JOBS_QUOTA_RETRY_AFTER=30)
def test_initiate_beyond_a_quota_answers_429_quota_exceeded(api: APIClient, user: Any) -> None:
    make_job(user)

    response = initiate(api, filename="one too many.mp4")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"
    body = response.json()
    assert (body["error_code"], body["quota"], body["limit"]) == ("quota_exceeded", "pending_uploads", 1)
    assert "awaiting their upload" in body["detail"]
    assert VideoAnalysisJob.objects.count() == 1


@pytest.mark.parametrize("field", ["filename", "content_type"])
def test_a_number_where_the_schema_says_a_string_is_refused(api: APIClient, field: str) -> None:
    body = {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 10, field: 0}
    response = api.post("/api/video-jobs/initiate/", body, format="json")
    assert (response.status_code, list(response.json())) == (400, ["error_code", field])
    assert not VideoAnalysisJob.objects.exists()
