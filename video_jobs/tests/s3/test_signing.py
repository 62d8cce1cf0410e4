"""``signing.presigned_url`` makes the URL the S3 client's own ``generate_presigned_url`` makes, signature
included, for every kind the service hands out (a PUT binding its headers, a part, a download), whatever
the client's addressing style, endpoint and region. (What a real store does with them: test_presign.)"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
import time_machine
from botocore.config import Config as BotoConfig

from video_jobs.s3 import signing, storage

KEYS: dict[str, Any] = {
    "aws_access_key_id": "AKIDEXAMPLE",
    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
}
CLIENTS: dict[str, dict[str, Any]] = {
    "path style, own endpoint": {
        "endpoint_url": "http://127.0.0.1:9000",
        "region_name": "us-east-1",
        "config": BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"}),
    },
    "AWS, virtual-hosted, eu-west-2": {
        "region_name": "eu-west-2",
        "config": BotoConfig(signature_version="s3v4", s3={"addressing_style": "virtual"}),
    },
    "AWS, the client's default addressing, ap-southeast-2": {
        "region_name": "ap-southeast-2",
        "config": BotoConfig(signature_version="s3v4"),
    },
}
DIGEST = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
# (botocore's operation and parameters, the same as signing's method, headers and query)
KINDS: dict[str, Any] = {
    "a PUT binding its size, type and checksum": (
        ("put_object", {"ContentLength": 321, "ContentType": "video/mp4", "ChecksumSHA256": DIGEST}, "PUT"),
        ({"Content-Length": "321", "Content-Type": "video/mp4", "x-amz-checksum-sha256": DIGEST}, None),
    ),
    "a part": (
        ("upload_part", {"ContentLength": 1000, "UploadId": "up/1+2=", "PartNumber": 7}, "PUT"),
        ({"Content-Length": "1000"}, {"partNumber": "7", "uploadId": "up/1+2="}),
    ),
    "a download": (
        ("get_object", {"ResponseContentType": "image/jpeg"}, "GET"),
        ({}, {"response-content-type": "image/jpeg"}),
    ),
}


def parts(url: str) -> tuple[str, str, str, list[tuple[str, str]]]:
    split = urlsplit(url)
    return split.scheme, split.netloc, split.path, sorted(parse_qsl(split.query))


@pytest.mark.parametrize("client_name", CLIENTS)
@pytest.mark.parametrize("kind", KINDS)
@time_machine.travel("2026-12-07 20:30:00 +0000", tick=False)
def test_a_url_signed_here_is_the_clients_own(client_name: str, kind: str) -> None:
    s3: Any = boto3.client("s3", **CLIENTS[client_name], **KEYS)
    (operation, params, method), (headers, query) = KINDS[kind]
    key = storage.video_key("7d9f1c1e-6a0b-4c1f-9a57-0e8e0d2f5a10")
    theirs = s3.generate_presigned_url(
        operation, Params={"Bucket": "cricksy-videos", "Key": key, **params}, ExpiresIn=900, HttpMethod=method
    )
    ours = signing.presigned_url(
        s3, method=method, bucket="cricksy-videos", key=key, expires=900, headers=headers, query=query
    )
    assert parts(ours) == parts(theirs)
    assert dict(parse_qsl(urlsplit(ours).query))["X-Amz-Signature"]  # signed, and the same signature


def test_a_client_that_cannot_sign_sigv4_signs_nothing() -> None:
    s3: Any = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        region_name="us-east-1",
        config=BotoConfig(signature_version="s3"),
        **KEYS,
    )
    with pytest.raises(storage.StorageMisconfigured, match="would not bind the upload"):
        signing.presigned_url(s3, method="PUT", bucket="cricksy-videos", key="videos/a/source", expires=60)
