"""Uppy's one-request upload for small files: ``/s3/params`` (a SigV4 POST policy pinned to the job's key,
type and exact size), the browser's form POST to S3 (moto over HTTP), and our ``params/complete``."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests
from django.test import override_settings

from video_jobs.models import VideoAnalysisJob

from ..support.jobs import make_job
from ..support.uppy_client import DATA, Uppy

pytestmark = pytest.mark.django_db


# --- small files: /s3/params, a form POST, and our params/complete ------------------------------------------


@pytest.fixture
def params(uppy: Uppy) -> Any:
    def get(size: int = 1000, **extra: str) -> Any:
        query = {
            "filename": "short.mp4",
            "type": "video/mp4",
            "metadata[name]": "short.mp4",
            "metadata[size]": str(size),
            "metadata[relativePath]": "null",
            **extra,
        }
        return uppy.client.get(f"{uppy.base}/params", query)

    return get


def policy_of(fields: dict[str, str]) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(fields["policy"])))


def test_params_answers_a_post_policy_pinned_to_the_jobs_key_type_and_size(params: Any, user: Any) -> None:
    response = params(size=1000)

    assert response.status_code == 201, response.json()
    body = response.json()
    job = VideoAnalysisJob.objects.get(owner=user)
    assert (job.part_count, job.upload_id, job.size_bytes) == (None, "", 1000)
    assert body["method"] == "POST"
    assert body["expires"] == 3600
    fields = body["fields"]
    assert fields["key"] == job.s3_key
    assert fields["Content-Type"] == "video/mp4"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    conditions = policy_of(fields)["conditions"]
    assert {"key": job.s3_key} in conditions
    assert {"bucket": job.s3_bucket} in conditions
    assert {"Content-Type": "video/mp4"} in conditions
    assert ["content-length-range", 1000, 1000] in conditions


def test_a_form_post_then_params_complete_queues_the_job(params: Any, uppy: Uppy, user: Any) -> None:
    body = params(size=1000).json()

    # As the browser's FormData: every field in order, the file last.
    posted = requests.post(
        body["url"], data=body["fields"], files={"file": ("short.mp4", DATA[:1000], "video/mp4")}, timeout=30
    )
    assert posted.status_code in (200, 201, 204), posted.text
    job = VideoAnalysisJob.objects.get(owner=user)
    assert job.status == "awaiting_upload"  # S3 tells nobody: the page calls params/complete

    response = uppy.client.post(f"{uppy.base}/params/complete?key={body['fields']['key']}")

    assert response.status_code == 200, response.json()
    assert response.json()["location"] == f"http://testserver/api/video-jobs/{job.pk}/"
    job.refresh_from_db()
    assert (job.status, job.object_size) == ("queued", 1000)


def test_params_complete_of_the_wrong_size_fails_the_job_with_409(params: Any, uppy: Uppy, user: Any) -> None:
    body = params(size=1000).json()
    # moto does not enforce the policy's content-length-range (S3 does): the HeadObject gate catches it.
    requests.post(body["url"], data=body["fields"], files={"file": ("s.mp4", DATA[:999])}, timeout=30)

    response = uppy.client.post(f"{uppy.base}/params/complete?key={body['fields']['key']}")

    assert response.status_code == 409
    assert response.json()["error_code"] == "upload_size_mismatch"
    assert VideoAnalysisJob.objects.get(owner=user).status == "failed"


def test_params_complete_is_owner_scoped_and_single_upload_only(
    params: Any, upload: dict[str, str], other_user: Any, uppy: Uppy
) -> None:
    key = params().json()["fields"]["key"]
    intruder = Uppy(other_user)
    assert intruder.client.post(f"{intruder.base}/params/complete?key={key}").status_code == 404
    # A multipart job's key is not a single upload's.
    assert uppy.client.post(f"{uppy.base}/params/complete?key={upload['key']}").status_code == 404


def test_params_refuses_bad_input_and_files_too_large_for_one_request(params: Any) -> None:
    for response, field in (
        (params(size=0), "metadata.size"),
        (params(type="application/octet-stream"), "type"),
        (params(size=6 * 1024**3), "metadata.size"),
        # What str.isdigit() calls a digit but int() cannot read, and more digits than int() reads.
        (params(**{"metadata[size]": "²"}), "metadata.size"),
        (params(**{"metadata[size]": "9" * 5000}), "metadata.size"),
    ):
        assert response.status_code == 400
        assert field in response.json()["errors"]


def test_params_replayed_for_a_queued_job_gives_no_new_policy(params: Any, uppy: Uppy) -> None:
    body = params(**{"metadata[file_id]": "f1"}).json()
    requests.post(body["url"], data=body["fields"], files={"file": ("s.mp4", DATA[:1000])}, timeout=30)
    assert uppy.client.post(f"{uppy.base}/params/complete?key={body['fields']['key']}").status_code == 200

    again = params(**{"metadata[file_id]": "f1"})

    assert again.status_code == 409
    assert again.json()["error_code"] == "upload_closed"


def test_a_head_of_params_creates_no_job(uppy: Uppy, user: Any) -> None:
    response = uppy.client.head(
        f"{uppy.base}/params", {"filename": "a.mp4", "type": "video/mp4", "metadata[size]": "1000"}
    )

    assert response.status_code == 405
    assert not VideoAnalysisJob.objects.filter(owner=user).exists()


def test_params_complete_beyond_the_active_jobs_quota_is_429_and_the_job_waits(
    params: Any, uppy: Uppy, user: Any
) -> None:
    body = params(size=1000).json()
    form = requests.post(
        body["url"], data=body["fields"], files={"file": ("short.mp4", DATA[:1000], "video/mp4")}, timeout=30
    )
    assert form.ok, form.text
    make_job(user, VideoAnalysisJob.Status.QUEUED)

    with override_settings(VIDEO_JOBS_MAX_ACTIVE_JOBS=1):
        response = uppy.client.post(f"{uppy.base}/params/complete?key={body['fields']['key']}")

    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert response.json()["error_code"] == "quota_exceeded"
    job = VideoAnalysisJob.objects.get(s3_key=body["fields"]["key"])
    assert job.status == VideoAnalysisJob.Status.AWAITING_UPLOAD
