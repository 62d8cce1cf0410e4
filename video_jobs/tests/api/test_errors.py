"""Every error body carries a stable error_code, DRF's own errors and the domain's refusals included."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory

from video_jobs import services
from video_jobs.api.errors import JobConflict, exception_handler
from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage

from ..support.jobs import make_job

INITIATE = "/api/video-jobs/initiate/"


def test_an_unauthenticated_call_says_not_authenticated() -> None:
    response = APIClient().get("/api/video-jobs/")
    assert response.status_code == 401
    assert response.json()["error_code"] == "not_authenticated"


def test_a_wrong_token_says_authentication_failed(db: None) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.get("/api/video-jobs/")
    assert (response.status_code, response.json()["error_code"]) == (401, "authentication_failed")


def test_field_errors_keep_their_place_beside_the_code(api: APIClient) -> None:
    response = api.post(INITIATE, {"filename": "a.mp4", "content_type": "video/mp4"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"error_code": "invalid", "size_bytes": ["This field is required."]}


def test_a_body_that_is_not_json_says_parse_error(api: APIClient) -> None:
    response = api.post(INITIATE, "{not json", content_type="application/json")
    assert (response.status_code, response.json()["error_code"]) == (400, "parse_error")


def test_a_page_size_that_is_not_a_positive_integer_is_refused(api: APIClient) -> None:
    for size in ("0", "-1", "x", "null"):
        response = api.get("/api/video-jobs/", {"page_size": size})
        assert (response.status_code, response.json()["error_code"]) == (400, "invalid"), size


def test_a_json_body_nested_too_deeply_says_parse_error(api: APIClient) -> None:
    # Deeper than the interpreter's recursion limit: the JSON decoder gives up with a RecursionError.
    for body in ("[" * 100_000, '{"a":' * 100_000):
        response = api.post(INITIATE, body, content_type="application/json")
        assert (response.status_code, response.json()["error_code"]) == (400, "parse_error")


def test_a_page_size_of_thousands_of_digits_is_read_as_a_number(api: APIClient) -> None:
    # Python refuses int() of more than 4300 digits; the paginator reads such a size as what it is: huge.
    response = api.get("/api/video-jobs/", {"page_size": "9" * 5000})
    assert response.status_code == 200
    assert api.get("/api/video-jobs/", {"page_size": "0" * 5000 + "1"}).status_code == 200
    for size in ("0" * 5000, "²", "\u0661"):  # no size at all, a superscript two, an Arabic-Indic one
        response = api.get("/api/video-jobs/", {"page_size": size})
        assert (response.status_code, response.json()["error_code"]) == (400, "invalid"), size
    response = api.get("/api/video-jobs/", {"page": "9" * 5000})
    assert (response.status_code, response.json()["error_code"]) == (404, "not_found")


def test_a_page_that_does_not_exist_says_not_found(api: APIClient) -> None:
    for page in ("0", "2", "last"):
        response = api.get("/api/video-jobs/", {"page": page})
        assert (response.status_code, response.json()["error_code"]) == (404, "not_found"), page


# --- domain exceptions: raised by any layer, answered by the one handler ------------------------------------


def answer(exc: Exception) -> Response:
    response = exception_handler(exc, {"request": Request(APIRequestFactory().get("/")), "view": None})
    assert response is not None
    return response


def test_a_refusal_answers_its_code_status_and_retry_after_and_nothing_of_the_log(settings: Any) -> None:
    settings.VIDEO_JOBS_RETRY_AFTER = 7
    response = answer(storage.StorageUnavailable("S3 answered 503 SlowDown for s3://private-bucket/videos/x"))
    assert (response.status_code, response["Retry-After"]) == (503, "7")
    assert response.data == {"error_code": "storage_unavailable", "detail": "S3 did not answer; retry later."}


def test_a_quota_refusal_carries_its_quota_and_limit_and_its_own_retry_after(settings: Any) -> None:
    settings.VIDEO_JOBS_QUOTA_RETRY_AFTER = 30
    response = answer(services.QuotaExceeded(quota="active_jobs", limit=2, message="Wait for one to finish."))
    assert (response.status_code, response["Retry-After"]) == (429, "30")
    assert response.data == {
        "error_code": "quota_exceeded",
        "detail": "Wait for one to finish.",
        "quota": "active_jobs",
        "limit": 2,
    }


def test_a_refusal_that_no_retry_mends_says_no_retry_after() -> None:
    response = answer(services.PartsClosed("job 1 takes no parts (it is queued)"))
    assert (response.status_code, response.data["error_code"]) == (409, "parts_closed")
    assert "job 1" not in response.data["detail"]
    assert not response.has_header("Retry-After")


def test_a_refusal_of_one_argument_answers_as_that_fields_error() -> None:
    response = answer(services.PartOutOfRange("part numbers must be 1 to 3; not [4]"))
    assert response.status_code == 400
    assert response.data == {
        "error_code": "invalid",
        "part_numbers": ["part numbers must be 1 to 3; not [4]"],
    }


def test_a_job_conflict_answers_409_with_the_job_as_it_is(user: Any) -> None:
    job = make_job(user, VideoAnalysisJob.Status.PROCESSING)
    response = answer(JobConflict(job))
    assert response.status_code == 409
    assert (response.data["id"], response.data["status"]) == (str(job.pk), "processing")


def test_a_refusal_keeps_the_headers_its_view_set(api: APIClient) -> None:
    job_id = api.post(INITIATE, {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 9}).json()[
        "id"
    ]
    response = api.post(f"/api/video-jobs/{job_id}/upload-complete/")  # nothing uploaded: upload_missing
    assert (response.status_code, response.json()["error_code"]) == (409, "upload_missing")
    assert response.headers["Server-Timing"].startswith("s3;dur=")
