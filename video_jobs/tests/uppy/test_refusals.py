"""The API's refusals on the Uppy routes, in Companion's shapes and Uppy's terms."""

from __future__ import annotations

from typing import Any

import pytest

from ..support.uppy_client import DATA, Uppy

pytestmark = pytest.mark.django_db


def test_a_part_past_the_plan_is_refused_under_uppys_name_for_it(uppy: Uppy, upload: dict[str, str]) -> None:
    response = uppy.sign(upload, 4)  # the upload has three parts
    assert response.status_code == 400
    body = response.json()
    assert (body["error_code"], body["detail"]) == ("invalid", "Invalid request: see errors.")
    assert list(body["errors"]) == ["partNumber"]


def test_a_file_id_used_for_another_file_is_refused_in_uppys_terms(uppy: Uppy) -> None:
    assert uppy.create(file_id="f1").status_code == 201
    response = uppy.create(size=10, file_id="f1")
    assert (response.status_code, response.json()["error_code"]) == (409, "idempotency_key_reused")
    assert "file id" in response.json()["detail"]


def test_an_upload_closed_names_the_jobs_location(uppy: Uppy, api: Any) -> None:
    upload = uppy.create(size=10).json()
    etag = uppy.put_part(upload, 1, data=DATA[:10])
    assert uppy.complete(upload, [{"PartNumber": 1, "ETag": etag}]).status_code == 200
    response = uppy.abort(upload)
    assert (response.status_code, response.json()["error_code"]) == (409, "upload_closed")
    assert api.get(response.json()["location"]).json()["status"] == "queued"


@pytest.mark.parametrize("forged", [False, True])
def test_a_method_no_route_has_is_405_whatever_the_token(
    uppy: Uppy, upload: dict[str, str], forged: bool
) -> None:
    base = uppy.base.replace("/api/uppy/", "/api/uppy/x") if forged else uppy.base
    for path in (
        "/params",
        "/multipart",
        f"/multipart/{upload['uploadId']}",
        f"/multipart/{upload['uploadId']}/1",
    ):
        response = uppy.client.generic("TRACE", f"{base}{path}?key={upload['key']}")
        assert (response.status_code, response.json()["error_code"]) == (405, "method_not_allowed"), path
