"""SigV4 query signing of one object's URL by botocore's own signer, without the client's machinery around
it (its event hooks, parameter validation, serializers and endpoint rules run on every
``generate_presigned_url``: most of the time an initiate spent on its upload URL).

Where a bucket's object URLs point, and the region and service they are signed for, are what the client
itself would use: read once per client and bucket from a URL the client presigns.
``test_signing`` holds the URLs made here to be the client's own: the same scheme, host, path and query
parameters, signature included.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest

from .storage import StorageMisconfigured

# The key of the URL the client presigns to show where its object URLs point (never sent anywhere).
_PROBE = "cricksy-signing-probe"


@dataclass(frozen=True)
class _Target:
    base: str  # an object's URL without its key: ".../bucket/" (path style) or "https://bucket.host/"
    region: str
    service: str


# Per client (django-storages makes one per thread, and new ones when the settings change), per bucket.
_TARGETS: weakref.WeakKeyDictionary[Any, dict[str, _Target]] = weakref.WeakKeyDictionary()


def _target(s3: Any, bucket: str) -> _Target:
    targets = _TARGETS.setdefault(s3, {})
    found = targets.get(bucket)
    if found is None:
        probe = s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": _PROBE}, ExpiresIn=60
        )
        parts = urlsplit(probe)
        scope = dict(parse_qsl(parts.query)).get("X-Amz-Credential", "").split("/")
        if not parts.path.endswith("/" + _PROBE) or len(scope) != 5:
            raise StorageMisconfigured(
                "presigned URL would not bind the upload: the S3 client does not presign with SigV4 (is the "
                "client set to SigV4?)"
            )
        base = urlunsplit((parts.scheme, parts.netloc, parts.path[: -len(_PROBE)], "", ""))
        found = targets[bucket] = _Target(base=base, region=scope[2], service=scope[3])
    return found


def presigned_url(
    s3: Any,
    *,
    method: str,
    bucket: str,
    key: str,
    expires: int,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> str:
    """The URL ``s3.generate_presigned_url`` would make for ``method`` on ``key`` with these ``headers``
    (each signed) and ``query`` parameters (S3's names: ``partNumber``, ``response-content-type``...)."""
    target = _target(s3, bucket)
    url = target.base + quote(key, safe="/~")
    if query:
        url += "?" + urlencode(query, quote_via=quote)
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    # The client's own credentials (refreshed when they are temporary): botocore keeps them on its signer.
    credentials = s3._request_signer._credentials.get_frozen_credentials()
    S3SigV4QueryAuth(credentials, target.service, target.region, expires=expires).add_auth(request)
    return str(request.prepare().url)
