"""The bucket's set-up: a missing bucket created once, and the browser upload rule on SeaweedFS, which
enforces it."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from django.test import override_settings

from video_jobs.s3 import bucket_setup, storage

from ..support.s3_config import BUCKET, a_missing_bucket


def test_ensure_bucket_creates_a_missing_bucket_once() -> None:
    with override_settings(AWS_STORAGE_BUCKET_NAME=a_missing_bucket()):
        with pytest.raises(storage.StorageMisconfigured):
            storage.check_bucket()

        assert bucket_setup.ensure_bucket() is True
        assert bucket_setup.ensure_bucket() is False
        storage.check_bucket()


def preflight(origin: str, method: str) -> tuple[int, dict[str, str]]:
    """A browser's CORS preflight for an upload to a new key of the bucket: its status and headers."""
    request = urllib.request.Request(
        f"{storage.client().meta.endpoint_url}/{BUCKET}/{storage.video_key(uuid.uuid4())}",
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type,x-amz-checksum-sha256",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return int(exc.code), dict(exc.headers)


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_the_browser_upload_rule_lets_a_page_on_its_origin_upload_and_read_etags(
    strict_s3: Any, method: str
) -> None:
    # On SeaweedFS, which answers a browser by the bucket's CORS rule and lets none through without one.
    origin = "http://127.0.0.1:8000"
    s3 = storage.client()
    assert preflight(origin, method)[0] == 403
    bucket_setup.allow_browser_uploads([origin])
    try:
        (rule,) = s3.get_bucket_cors(Bucket=BUCKET)["CORSRules"]
        assert (rule["AllowedOrigins"], rule["ExposeHeaders"]) == ([origin], ["ETag"])
        status, headers = preflight(origin, method)
        assert status == 200
        assert headers["Access-Control-Allow-Origin"] == origin
        assert method in headers["Access-Control-Allow-Methods"]
        assert preflight("http://elsewhere.example", method)[0] == 403
    finally:
        s3.delete_bucket_cors(Bucket=BUCKET)
