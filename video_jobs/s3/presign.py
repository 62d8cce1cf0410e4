"""Presigned URLs: the uploads S3 itself holds to what was declared (a PUT signing its exact size and
checksum, a part, a browser's form POST) and short-lived downloads of artifacts. Always SigV4: a URL that
would bind less is refused here, as a configuration fault, before it can reach a client.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings

from . import signing
from .storage import StorageMisconfigured, client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PresignedUpload:
    method: str
    url: str
    headers: dict[str, str]
    expires_at: datetime


def presign_upload(
    *,
    bucket: str,
    key: str,
    content_length: int,
    sha256: str = "",
    content_type: str = "",
    query: Mapping[str, str] | None = None,
) -> PresignedUpload:
    """A short-lived SigV4 PUT URL that S3 itself holds the upload to: the signature covers the exact
    ``Content-Length``, the ``Content-Type`` when given, and ``x-amz-checksum-sha256`` when ``sha256`` (hex)
    is given, so S3 refuses a body of another size (403) or with other bytes (400 BadDigest) before storing
    anything. The client must send exactly ``headers``.

    ``query`` signs other uploads the same way: ``{"partNumber": ..., "uploadId": ...}`` for a multipart
    part of ``content_length`` bytes.
    """
    expires = int(settings.VIDEO_JOBS_UPLOAD_URL_EXPIRES)
    headers = {"Content-Length": str(content_length)}
    if content_type:
        headers["Content-Type"] = content_type
    if sha256:
        # S3 wants the digest itself in base64, where clients declare it in hex.
        headers["x-amz-checksum-sha256"] = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
    url = _signed(method="PUT", bucket=bucket, key=key, expires=expires, headers=headers, query=query)
    return PresignedUpload(method="PUT", url=url, headers=headers, expires_at=_binding(url, headers))


def _signed(**request: Any) -> str:
    """``signing.presigned_url`` with the client of the settings; a client that cannot sign SigV4 is a
    configuration fault, logged."""
    try:
        return signing.presigned_url(client(), **request)
    except StorageMisconfigured as error:
        logger.error("S3 configuration fault: %s", error)
        raise


def _binding(url: str, headers: dict[str, str]) -> datetime:
    """Check that ``url`` is SigV4 and signs exactly ``headers`` (and the host); returns when it expires.

    A URL that binds less must never reach a client: it would let any size or any bytes into the bucket.
    botocore signs SigV2-style URLs, which can bind no header, unless told to use SigV4.
    """
    query = dict(parse_qsl(urlsplit(url).query))
    signed = set(query.get("X-Amz-SignedHeaders", "").split(";"))
    expected = {"host", *(name.lower() for name in headers)}
    if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or signed != expected:
        error = StorageMisconfigured(
            f"presigned URL would not bind the upload: algorithm {query.get('X-Amz-Algorithm')!r}, "
            f"signed headers {sorted(signed)}, wanted {sorted(expected)} (is the client set to SigV4?)"
        )
        logger.error("S3 configuration fault: %s", error)
        raise error
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed_at + timedelta(seconds=int(query["X-Amz-Expires"]))


@dataclass(frozen=True)
class PresignedPost:
    url: str
    fields: dict[str, str]
    expires_at: datetime


def presign_post(*, bucket: str, key: str, content_length: int, content_type: str) -> PresignedPost:
    """A short-lived SigV4 POST policy for a browser form upload (Uppy's small files): the policy pins the
    exact key, ``Content-Type`` and a ``content-length-range`` of exactly ``content_length`` bytes. A POST
    policy cannot carry a checksum or If-None-Match: the HeadObject gate checks the size after it."""
    expires = int(settings.VIDEO_JOBS_UPLOAD_URL_EXPIRES)
    fields = {"Content-Type": content_type, "success_action_status": "201"}
    conditions: list[Any] = [
        {"Content-Type": content_type},
        {"success_action_status": "201"},
        ["content-length-range", content_length, content_length],
    ]
    post = client().generate_presigned_post(
        Bucket=bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires
    )
    signed = {name.lower(): value for name, value in post["fields"].items()}
    if signed.get("x-amz-algorithm") != "AWS4-HMAC-SHA256" or signed.get("key") != key:
        error = StorageMisconfigured("presigned POST is not SigV4 (is the client set to SigV4?)")
        logger.error("S3 configuration fault: %s", error)
        raise error
    signed_at = datetime.strptime(signed["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    # The bucket's URL with its trailing slash, as a virtual-hosted one has it: botocore's path-style
    # ``/bucket`` is the same bucket to S3, but SeaweedFS answers a browser's CORS preflight only under
    # ``/bucket/`` (for ``/bucket`` it closes the connection, and the browser's upload fails).
    url = post["url"] if post["url"].endswith("/") else f"{post['url']}/"
    return PresignedPost(url=url, fields=post["fields"], expires_at=signed_at + timedelta(seconds=expires))


# Artifact links are handed out on every GET of an artifact: short-lived, since anyone holding one may read.
DOWNLOAD_URL_SECONDS = 300


def presign_download(*, bucket: str, key: str, content_type: str) -> str:
    """A SigV4 GET URL for ``key``, valid DOWNLOAD_URL_SECONDS, answering with ``content_type``."""
    query = {"response-content-type": content_type}
    url = _signed(method="GET", bucket=bucket, key=key, expires=DOWNLOAD_URL_SECONDS, query=query)
    _binding(url, {})
    return url
