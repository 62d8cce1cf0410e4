"""Every error body carries a stable error_code, DRF's own errors included."""

from __future__ import annotations

from rest_framework.test import APIClient

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


def test_a_page_that_does_not_exist_says_not_found(api: APIClient) -> None:
    for page in ("0", "2", "last"):
        response = api.get("/api/video-jobs/", {"page": page})
        assert (response.status_code, response.json()["error_code"]) == (404, "not_found"), page
