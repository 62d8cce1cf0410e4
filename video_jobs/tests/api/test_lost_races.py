"""A call that loses a race against a DELETE answers the 404 of a job that does not exist, never a 500:
upload-complete (the API's and Uppy's) whose job is deleted between its HeadObject and its guarded UPDATE,
and the second of two DELETEs. Deterministic interleavings here; the real race on PostgreSQL at the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from video_jobs import services
from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage
from video_jobs.services import deletion

from ..support.api_requests import complete
from ..support.concurrency import race
from ..support.jobs import VIDEO, make_job
from ..support.uppy_client import Uppy

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
NOT_FOUND = {"error_code": "not_found", "detail": "Not found."}


def delete_meanwhile(job: VideoAnalysisJob) -> None:
    """Another request's DELETE of ``job``, run to its end."""
    assert services.delete_job(job=VideoAnalysisJob.objects.get(pk=job.pk)) == services.Deletion.DELETED


def once_then_real(real: Callable[..., Any], before: Callable[[], None]) -> Callable[..., Any]:
    """``real``, with ``before`` run once ahead of its first call."""
    pending = [before]

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        while pending:
            pending.pop()()
        return real(*args, **kwargs)

    return wrapped


def head_then(job: VideoAnalysisJob, monkeypatch: pytest.MonkeyPatch) -> None:
    """The job is deleted right after upload-complete's HeadObject answered, before its UPDATE."""
    real = storage.head

    def head(*, bucket: str, key: str) -> storage.ObjectInfo:
        info = real(bucket=bucket, key=key)
        delete_meanwhile(job)
        return info

    monkeypatch.setattr(storage, "head", head)


def test_upload_complete_that_loses_to_a_delete_answers_404(
    api: APIClient, user: Any, put_video: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    head_then(job, monkeypatch)

    response = complete(api, job.pk)

    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert not VideoAnalysisJob.objects.filter(pk=job.pk).exists()


def test_uppy_complete_that_loses_to_a_delete_answers_404(
    user: Any, put_video: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job(user)
    put_video(job, VIDEO)
    head_then(job, monkeypatch)

    uppy = Uppy(user)  # the page's session and its endpoint
    response = uppy.client.post(f"{uppy.base}/params/complete?key={job.s3_key}")

    assert response.status_code == 404
    assert response.json()["error_code"] == "not_found"


@pytest.mark.parametrize("status", [Status.AWAITING_UPLOAD, Status.QUEUED, Status.DONE])
def test_a_delete_whose_job_another_delete_removed_after_it_was_read_answers_404(
    api: APIClient, user: Any, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    job = make_job(user, status)
    # The other DELETE runs to its end between this one's read of the job and its first write.
    monkeypatch.setattr(
        services, "delete_job", once_then_real(services.delete_job, lambda: delete_meanwhile(job))
    )

    response = api.delete(f"/api/video-jobs/{job.pk}/")

    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_a_delete_overtaken_while_it_deletes_the_objects_answers_404(
    api: APIClient, user: Any, monkeypatch: pytest.MonkeyPatch, s3: Any
) -> None:
    job = make_job(user, Status.DONE)
    s3.put_object(Bucket=job.s3_bucket, Key=job.s3_key, Body=VIDEO)
    real = deletion._delete_stored_objects
    monkeypatch.setattr(
        deletion, "_delete_stored_objects", once_then_real(real, lambda: delete_meanwhile(job))
    )

    response = api.delete(f"/api/video-jobs/{job.pk}/")

    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert "Contents" not in s3.list_objects_v2(Bucket=job.s3_bucket, Prefix=storage.job_folder(job.pk))


@pytest.mark.postgres
@pytest.mark.parametrize("status", [Status.AWAITING_UPLOAD, Status.DONE])
def test_two_concurrent_deletes_answer_204_and_404(user: Any, status: str) -> None:
    job = make_job(user, status)
    token = Token.objects.create(user=user)

    def delete() -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return int(client.delete(f"/api/video-jobs/{job.pk}/").status_code)

    assert sorted(race(2, delete)) == [204, 404]
    assert not VideoAnalysisJob.objects.filter(pk=job.pk).exists()
