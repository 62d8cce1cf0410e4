"""The REST API: every path, every error code, bad input of every field, owner isolation."""

from __future__ import annotations

import base64
import urllib.request
import uuid
from typing import Any

import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from django.test import override_settings
from rest_framework.test import APIClient

from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage

from ..support.api_requests import INITIATE, JOB_BODY_FIELDS, complete, initiate
from ..support.jobs import VIDEO, make_job
from ..support.presigned import signed_headers
from ..support.s3_config import s3_down

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


# --- initiate ----------------------------------------------------------------------------------------------


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


# --- upload-complete ---------------------------------------------------------------------------------------


def test_upload_complete_queues_a_verified_upload(api: APIClient, user: Any, put_video: Any) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    response = complete(api, job.pk)
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert response.json()["stage"] == "queued"


def test_upload_complete_reports_the_head_object_time_in_server_timing(
    api: APIClient, user: Any, put_video: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    response = complete(api, job.pk)
    s3_part, verify_part = response.headers["Server-Timing"].split(", ")
    s3_ms = float(s3_part.split("dur=")[1].split(";")[0])
    verify_ms = float(verify_part.split("dur=")[1])
    assert 0 < s3_ms <= verify_ms
    # A job past verification makes no S3 call at all.
    assert complete(api, job.pk).headers["Server-Timing"].startswith("s3;dur=0.00;")


def test_upload_complete_without_an_object_fails_as_upload_missing(api: APIClient, user: Any) -> None:
    job = make_job(user)
    response = complete(api, job.pk)
    assert response.status_code == 409
    assert response.json()["status"] == "failed"
    assert response.json()["error_code"] == "upload_missing"
    # In the client's terms: where the service looked (bucket, key, endpoint) is for staff only.
    assert job.s3_bucket not in response.json()["error_message"]
    assert "error_detail" not in response.json()


def test_upload_complete_with_another_size_fails_as_size_mismatch(
    api: APIClient, user: Any, put_video: Any
) -> None:
    job = make_job(user)
    put_video(job, VIDEO[:-1])
    response = complete(api, job.pk)
    assert response.status_code == 409
    assert response.json()["error_code"] == "upload_size_mismatch"
    assert "bytes" in response.json()["error_message"]


def test_upload_complete_with_an_object_over_the_maximum_fails_as_too_large(
    api: APIClient, user: Any, put_video: Any
) -> None:
    job = make_job(user)
    put_video(job, VIDEO + b"more")
    with override_settings(VIDEO_JOBS_MAX_UPLOAD_BYTES=len(VIDEO)):
        response = complete(api, job.pk)
    assert response.status_code == 409
    assert response.json()["error_code"] == "upload_too_large"


def test_upload_complete_is_idempotent_and_does_not_touch_s3_again(
    api: APIClient, user: Any, put_video: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    first = complete(api, job.pk)

    def no_s3(**kwargs: Any) -> None:
        raise AssertionError("HeadObject must not be called for a job already verified")

    monkeypatch.setattr(storage, "head", no_s3)
    again = complete(api, job.pk)

    assert first.status_code == again.status_code == 200
    assert again.json()["status"] == "queued"
    assert again.json()["queued_at"] == first.json()["queued_at"]


@pytest.mark.parametrize("status", ["processing", "done"])
def test_upload_complete_on_a_job_past_queued_answers_200_unchanged(
    api: APIClient, user: Any, status: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job(user, status)
    monkeypatch.setattr(storage, "head", lambda **kw: pytest.fail("no S3 call expected"))
    response = complete(api, job.pk)
    assert response.status_code == 200
    assert response.json()["status"] == status


def test_upload_complete_on_a_failed_job_answers_409_with_its_code(api: APIClient, user: Any) -> None:
    job = make_job(user)
    complete(api, job.pk)  # no object: upload_missing
    response = complete(api, job.pk)
    assert response.status_code == 409
    assert response.json()["error_code"] == "upload_missing"


def test_upload_complete_on_a_cancelled_job_answers_409(api: APIClient, user: Any, put_video: Any) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    api.post(f"/api/video-jobs/{job.pk}/cancel/")
    response = complete(api, job.pk)
    assert response.status_code == 409
    assert response.json()["status"] == "cancelled"


def test_upload_complete_when_s3_is_unreachable_answers_503_and_leaves_the_job(
    api: APIClient, user: Any, put_video: Any
) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    # Nothing listens on this port: a real connection error, as when S3 is down.
    with s3_down():
        response = complete(api, job.pk)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error_code"] == "storage_unavailable"
    job.refresh_from_db()
    assert job.status == "awaiting_upload"
    assert complete(api, job.pk).json()["status"] == "queued"  # S3 back: the retry succeeds


def test_upload_complete_answers_503_when_the_service_points_at_a_bucket_that_does_not_exist(
    api: APIClient, user: Any
) -> None:
    bucket = f"cricksy-no-such-bucket-{uuid.uuid4().hex[:12]}"
    with override_settings(AWS_STORAGE_BUCKET_NAME=bucket):
        job = make_job(user)
        response = complete(api, job.pk)

    assert response.status_code == 503
    assert response.json()["error_code"] == "storage_unavailable"
    assert bucket not in response.content.decode()  # the detail is for the log, not the client
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("awaiting_upload", "")


@pytest.mark.parametrize("http_status", [403, 500, 503])
def test_upload_complete_on_s3_403_or_5xx_answers_503_and_never_fails_the_job(
    api: APIClient, user: Any, monkeypatch: pytest.MonkeyPatch, http_status: int
) -> None:
    # moto enforces no permissions, so the 403 S3 gives without s3:ListBucket is stubbed here.
    job = make_job(user)
    error = ClientError(
        {"Error": {"Code": str(http_status)}, "ResponseMetadata": {"HTTPStatusCode": http_status}},  # type: ignore[typeddict-item]
        "HeadObject",
    )

    class Refusing:
        def head_object(self, **kwargs: Any) -> None:
            raise error

    monkeypatch.setattr(storage, "client", lambda: Refusing())
    response = complete(api, job.pk)

    assert response.status_code == 503
    job.refresh_from_db()
    assert job.status == "awaiting_upload"
    assert job.error_code == ""


# --- read, list, cancel ------------------------------------------------------------------------------------


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
    job = make_job(user, Status.DONE, progress=100, result={"motion": {"timeline": [1.0] * 600}})

    [listed] = api.get("/api/video-jobs/").json()["results"]
    body = api.get(f"/api/video-jobs/{job.pk}/").json()

    assert set(listed) == JOB_BODY_FIELDS - {"result"} | {"sha256", "upload_deadline", "source_deleted_at"}
    assert listed["status"] == "done"
    assert body["result"] == {"motion": {"timeline": [1.0] * 600}}


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


# --- quotas ------------------------------------------------------------------------------------------------


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


# --- delete ------------------------------------------------------------------------------------------------


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


# --- authentication and schema -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", INITIATE),
        ("get", "/api/video-jobs/"),
        ("get", f"/api/video-jobs/{uuid.uuid4()}/"),
        ("post", f"/api/video-jobs/{uuid.uuid4()}/upload-complete/"),
        ("post", f"/api/video-jobs/{uuid.uuid4()}/cancel/"),
        ("delete", f"/api/video-jobs/{uuid.uuid4()}/"),
    ],
)
def test_unauthenticated_calls_answer_401(method: str, path: str) -> None:
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Token")


def test_a_bad_token_answers_401() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/video-jobs/").status_code == 401


def test_session_auth_works(user: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="alice", password="pw-alice-123")
    assert client.get("/api/video-jobs/").status_code == 200


def test_openapi_schema_describes_the_api() -> None:
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    assert "/api/video-jobs/initiate/" in paths
    assert "/api/video-jobs/{id}/upload-complete/" in paths
    initiate_op = paths["/api/video-jobs/initiate/"]["post"]
    assert "requestBody" in initiate_op
    assert {"201", "400"} <= initiate_op["responses"].keys()
    assert {"200", "409", "503"} <= paths["/api/video-jobs/{id}/upload-complete/"]["post"]["responses"].keys()
    assert "429" in initiate_op["responses"]
    assert {"204", "409", "503"} <= paths["/api/video-jobs/{id}/"]["delete"]["responses"].keys()
    assert "size_bytes" in schema["components"]["schemas"]["Initiate"]["properties"]
