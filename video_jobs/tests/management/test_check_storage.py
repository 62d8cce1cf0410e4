"""``manage.py check_storage`` against a real store (SeaweedFS) with and without the browser CORS rule,
against moto (which verifies no checksum), and against an S3 that cannot be reached."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from video_jobs.s3 import bucket_setup, storage
from video_jobs.s3.seaweedfs import SeaweedFS

from ..support.s3_config import BUCKET, s3_down

ORIGIN = "https://coaches.example"


def check_storage(*args: str) -> tuple[str, CommandError | None]:
    """The command's output, and the error it ended with (None when it exited 0)."""
    output = io.StringIO()
    try:
        call_command("check_storage", *args, stdout=output)
    except CommandError as exc:
        return output.getvalue(), exc
    return output.getvalue(), None


def lines_of(output: str) -> list[str]:
    return [" ".join(line.split()) for line in output.splitlines()]


@pytest.fixture
def configured_store(strict_s3: SeaweedFS) -> Iterator[None]:
    """The session's SeaweedFS bucket with the two rules a deployment's bucket has."""
    bucket_setup.allow_browser_uploads([ORIGIN])
    bucket_setup.abort_incomplete_uploads()
    yield
    storage.client().delete_bucket_cors(Bucket=BUCKET)
    storage.client().delete_bucket_lifecycle(Bucket=BUCKET)


def probes_left() -> list[str]:
    listed = storage.client().list_objects_v2(Bucket=BUCKET, Prefix=f"{storage.VIDEOS_PREFIX}check-storage-")
    return [item["Key"] for item in listed.get("Contents", [])]


def test_a_real_store_with_both_rules_passes_every_check(configured_store: None) -> None:
    output, error = check_storage("--origin", ORIGIN)

    assert error is None, output
    assert lines_of(output)[1:] == [
        f"ok the bucket '{BUCKET}' answers",
        "ok these credentials can put, head and delete objects under videos/",
        f"ok the browser upload CORS rule is there (origins: {ORIGIN})",
        "ok the store refuses a presigned PUT of other bytes of the declared size (400 BadDigest)",
        "ok the store refuses a presigned PUT of a body of another length (403 SignatureDoesNotMatch)",
        "ok a lifecycle rule aborts incomplete multipart uploads after 2 day(s)",
        "The service can work with this bucket.",
    ]
    assert probes_left() == []


def test_without_the_cors_rule_it_fails_and_says_how_to_add_it(
    configured_store: None, strict_s3: SeaweedFS
) -> None:
    storage.client().delete_bucket_cors(Bucket=BUCKET)

    output, error = check_storage("--origin", ORIGIN)

    assert error is not None
    assert "cannot work with this bucket" in str(error)
    assert f"FAILED no CORS rule lets a browser upload for {ORIGIN}" in " ".join(output.split())
    endpoint = strict_s3.endpoint
    assert (
        f"aws s3api --endpoint-url {endpoint} put-bucket-cors --bucket {BUCKET} --cors-configuration"
        in output
    )
    assert ORIGIN in output.split("put-bucket-cors", 1)[1]
    assert probes_left() == []


def test_a_rule_for_other_origins_is_not_enough(configured_store: None) -> None:
    output, error = check_storage("--origin", "https://elsewhere.example")

    assert error is not None
    assert "no CORS rule lets a browser upload for https://elsewhere.example" in " ".join(output.split())


def test_a_store_that_verifies_nothing_is_usable_with_warnings(s3: Any) -> None:
    # moto: no checksum, length or signature checked, no lifecycle rule on the bucket.
    bucket_setup.allow_browser_uploads([ORIGIN])
    try:
        output, error = check_storage("--origin", ORIGIN)
    finally:
        s3.delete_bucket_cors(Bucket=BUCKET)

    assert error is None, output
    flat = " ".join(output.split())
    assert "it does not verify checksums; the worker's SHA-256 check still does" in flat
    assert "it does not verify signed lengths; the HeadObject gate still refuses" in flat
    assert "warning no lifecycle rule aborts incomplete multipart uploads" in flat
    assert f"put-bucket-lifecycle-configuration --bucket {BUCKET}" in output
    assert probes_left() == []


def test_an_unreachable_store_fails_at_the_first_check() -> None:
    with s3_down():
        output, error = check_storage()

    assert error is not None
    assert len(lines_of(output)) == 3  # the heading, the failure, its fix
    assert f"FAILED the bucket '{BUCKET}' does not answer" in " ".join(output.split())
