"""The S3 the tests talk to: the bucket every test uses (on the moto server, and on the session's SeaweedFS),
what points the app or a worker process at SeaweedFS, an S3 that cannot be reached, and a bucket that does
not exist."""

from __future__ import annotations

import uuid

from django.test import override_settings

from video_jobs.s3.embedded import free_port
from video_jobs.s3.seaweedfs import SeaweedFS

BUCKET = "cricksy-test-videos"


def a_missing_bucket() -> str:
    """The name of a bucket nobody created."""
    return f"cricksy-no-such-bucket-{uuid.uuid4().hex[:12]}"


def s3_down() -> override_settings:
    """S3 that cannot be reached: nothing listens on the endpoint's port."""
    return override_settings(AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")


def s3_settings(store: SeaweedFS) -> dict[str, str]:
    """The settings that give the app ``store``'s credentials (its endpoint is set beside them)."""
    return {"AWS_S3_ACCESS_KEY_ID": store.access_key, "AWS_S3_SECRET_ACCESS_KEY": store.secret_key}


def store_env(store: SeaweedFS) -> dict[str, str]:
    """What a worker process needs to use ``store`` instead of moto."""
    return {
        "AWS_S3_ENDPOINT_URL": store.endpoint,
        "AWS_ACCESS_KEY_ID": store.access_key,
        "AWS_SECRET_ACCESS_KEY": store.secret_key,
    }
