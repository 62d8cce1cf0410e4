"""The S3 the tests talk to: the bucket every test uses on the moto server, and an S3 that cannot be
reached."""

from __future__ import annotations

from django.test import override_settings

from video_jobs.s3.embedded import free_port

BUCKET = "cricksy-test-videos"


def s3_down() -> override_settings:
    """S3 that cannot be reached: nothing listens on the endpoint's port."""
    return override_settings(AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
