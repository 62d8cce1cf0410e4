"""Reading a presigned URL as S3 would: which request headers its SigV4 signature covers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit


def signed_headers(url: str) -> set[str]:
    """The headers a SigV4 presigned URL signs (X-Amz-SignedHeaders); fails for any other kind of URL."""
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"], url
    return set(query["X-Amz-SignedHeaders"][0].split(";"))
