"""The bucket's own set-up, apart from the objects in it: creating it (development and tests), the CORS rule
browsers need to upload to it, and the lifecycle rule that aborts multipart uploads nobody finished.
``make run`` applies both rules to its store; ``checkup`` looks for them on a deployment's bucket.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from . import storage


def ensure_bucket() -> bool:
    """Create the configured bucket if it does not exist (development and tests). Returns True when it was
    created."""
    name = storage.bucket_name()
    try:
        storage.client().head_bucket(Bucket=name)
        return False
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
            raise storage.classify(exc, bucket=name, key="") from exc
    except BotoCoreError as exc:
        raise storage.classify(exc, bucket=name, key="") from exc
    region = settings.AWS_S3_REGION_NAME
    kwargs: dict[str, Any] = {"Bucket": name}
    if region and region != "us-east-1":
        # us-east-1 is the one region that rejects an explicit LocationConstraint.
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    storage.call(name, "", lambda: storage.client().create_bucket(**kwargs))
    return True


def browser_upload_cors_rule(origins: list[str]) -> dict[str, Any]:
    """The bucket CORS rule a browser on one of ``origins`` needs for presigned uploads (docs/operations.md).

    PUT for the upload (and its parts), POST for a presigned form upload (Uppy's small files), GET and HEAD
    to read results back; any request header, since the signature may cover Content-Type and checksum
    headers; ETag exposed, so that a browser uploading parts can read each part's ETag.
    """
    return {
        "AllowedOrigins": origins,
        "AllowedMethods": ["PUT", "POST", "GET", "HEAD"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3600,
    }


def allow_browser_uploads(origins: list[str]) -> None:
    """Set the bucket's CORS configuration to the browser upload rule (``make run`` does, on its store)."""
    name, s3 = storage.bucket_name(), storage.client()
    rules = {"CORSRules": [browser_upload_cors_rule(origins)]}
    storage.call(name, "", lambda: s3.put_bucket_cors(Bucket=name, CORSConfiguration=rules))


# Incomplete multipart uploads older than this are aborted by the bucket's lifecycle rule: the backstop of
# the workers' own sweep (which takes those a day old) for when no worker runs.
ABORT_INCOMPLETE_AFTER_DAYS = 2


def abort_incomplete_uploads_rule() -> dict[str, Any]:
    """The bucket lifecycle rule that aborts multipart uploads under the videos prefix nobody finished."""
    return {
        "ID": "abort-incomplete-video-uploads",
        "Status": "Enabled",
        "Filter": {"Prefix": storage.VIDEOS_PREFIX},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_AFTER_DAYS},
    }


def abort_incomplete_uploads() -> None:
    """Set the bucket's lifecycle configuration to that one rule (``make run`` does, on its SeaweedFS)."""
    name, s3 = storage.bucket_name(), storage.client()
    rules = {"Rules": [abort_incomplete_uploads_rule()]}
    storage.call(
        name, "", lambda: s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration=rules)
    )
