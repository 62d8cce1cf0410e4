"""POST upload-complete: queued only after a HeadObject of the job's own key says the bytes are there with
the declared size; each failure with its code; idempotent; 503, never a failed job, when S3 cannot answer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from django.test import override_settings
from rest_framework.test import APIClient

from video_jobs.s3 import storage

from ..support.api_requests import complete
from ..support.jobs import VIDEO, make_job
from ..support.s3_config import s3_down

pytestmark = pytest.mark.django_db


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
    # What the client can do now: the URL initiate gave takes nothing for a failed job.
    assert response.json()["error_message"] == (
        "No video was found for this job when its upload was said to be complete. Start a new upload of the "
        "video: this job takes no more uploads."
    )


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


@override_settings(VIDEO_JOBS_MAX_ACTIVE_JOBS=1, VIDEO_JOBS_QUOTA_RETRY_AFTER=45)
def test_upload_complete_beyond_the_active_jobs_quota_is_429_and_the_job_waits(
    api: APIClient, user: Any, put_video: Any
) -> None:
    make_job(user, "queued")
    job = make_job(user)
    put_video(job, VIDEO)

    response = complete(api, job.pk)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "45"
    assert response.json()["error_code"] == "quota_exceeded"
    assert (response.json()["quota"], response.json()["limit"]) == ("active_jobs", 1)
    assert api.get(f"/api/video-jobs/{job.pk}/").json()["status"] == "awaiting_upload"
