"""Uppy's side of the Companion protocol, as a test client: bare JSON requests to ``companionEndpoint``
(CSRF checks on, no CSRF token, the page's session cookie as a browser sends it to its own origin), and part
PUTs straight to S3 as a browser sends them (fixtures ``uppy`` and ``upload`` in conftest)."""

from __future__ import annotations

from typing import Any

import requests
from django.test import Client

from video_jobs.models import VideoAnalysisJob
from video_jobs.uppy import tokens

MIB = 1024**2
PART = 5 * MIB  # Uppy's part size for any file up to ~48.8 GiB
SIZE = 2 * PART + 7  # three parts, the last of 7 bytes
DATA = bytes(range(256)) * (SIZE // 256) + bytes(SIZE % 256)


class Uppy:
    """What the browser sends: bare JSON requests to ``companionEndpoint``, CSRF checks on, no CSRF token;
    the session cookie of the page that rendered the endpoint (``client``, logged in here unless given)."""

    def __init__(self, user: Any, client: Client | None = None) -> None:
        if client is None:
            client = Client(enforce_csrf_checks=True)
            client.force_login(user)
        self.client = client
        self.base = tokens.endpoint_path(user, session_key=str(client.session.session_key)) + "/s3"

    def create(self, size: int = SIZE, **metadata: Any) -> Any:
        body = {
            "filename": "nets.mp4",
            "type": "video/mp4",
            "metadata": {"name": "nets.mp4", "type": "video/mp4", "size": size, **metadata},
        }
        return self.client.post(f"{self.base}/multipart", body, content_type="application/json")

    def sign(self, upload: dict[str, str], number: int) -> Any:
        return self.client.get(f"{self.base}/multipart/{upload['uploadId']}/{number}", {"key": upload["key"]})

    def put_part(self, upload: dict[str, str], number: int, data: bytes = DATA) -> str:
        signed = self.sign(upload, number)
        assert signed.status_code == 200, signed.json()
        chunk = data[(number - 1) * PART : number * PART]
        # As the browser does: the body alone (it sets Content-Length), no Content-Type.
        put = requests.put(signed.json()["url"], data=chunk, timeout=60)
        assert put.status_code == 200, put.text
        return put.headers["ETag"].strip('"')

    def list_parts(self, upload: dict[str, str]) -> Any:
        return self.client.get(f"{self.base}/multipart/{upload['uploadId']}", {"key": upload["key"]})

    def complete(self, upload: dict[str, str], parts: list[dict[str, Any]]) -> Any:
        return self.client.post(
            f"{self.base}/multipart/{upload['uploadId']}/complete?key={upload['key']}",
            {"parts": parts},
            content_type="application/json",
        )

    def abort(self, upload: dict[str, str]) -> Any:
        return self.client.delete(f"{self.base}/multipart/{upload['uploadId']}?key={upload['key']}")


def job_of(upload: dict[str, str]) -> VideoAnalysisJob:
    return VideoAnalysisJob.objects.get(upload_id=upload["uploadId"])
