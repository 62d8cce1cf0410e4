"""Multipart uploads: parts straight to S3 (moto's server, real HTTP), assembled by the server, verified by
the same HeadObject gate, and never left behind in S3."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import override_settings

from video_jobs import services
from video_jobs.models import ErrorCode, VideoAnalysisJob
from video_jobs.s3 import multipart, storage
from video_jobs.services import Outcome

from ..support.s3_config import s3_down

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
MIB = 1024**2
PART = 5 * MIB  # S3's (and moto's) smallest part but the last
# Three parts: 5 MiB, 5 MiB and a last one of 1 MiB and 3 bytes.
DATA = hashlib.sha256(b"over 12").digest() * (11 * MIB // 32) + b"end"


@pytest.fixture(autouse=True)
def _small_parts() -> Iterator[None]:
    with override_settings(VIDEO_JOBS_MULTIPART_THRESHOLD=MIB, VIDEO_JOBS_PART_SIZE=PART):
        yield


@pytest.fixture
def big_job(user: Any) -> VideoAnalysisJob:
    job, _ = services.initiate_upload(
        owner=user, filename="match.mp4", content_type="video/mp4", size_bytes=len(DATA)
    )
    instructions = services.upload_instructions(job)
    assert instructions is not None
    assert instructions["method"] == "multipart"
    return job


def put_parts(job: VideoAnalysisJob, numbers: list[int], data: bytes = DATA) -> None:
    """PUT parts as a client does: to the presigned URLs, with exactly the headers they came with."""
    for part in services.presign_parts(job, numbers):
        start = (part["part_number"] - 1) * PART
        body = data[start : start + PART]
        response = requests.put(part["url"], data=body, headers=part["headers"], timeout=30)
        assert response.status_code == 200, response.text


def uploads_in_progress(s3: Any, job: VideoAnalysisJob) -> list[str]:
    """ListMultipartUploads of the job's key (moto's bucket is shared by the whole session)."""
    listed = s3.list_multipart_uploads(Bucket=job.s3_bucket, Prefix=job.s3_key)
    return [upload["UploadId"] for upload in listed.get("Uploads", [])]


# --- the plan ----------------------------------------------------------------------------------------------


def test_every_part_but_the_last_is_exactly_the_part_size() -> None:
    plan = multipart.PartPlan.for_size(len(DATA))
    assert (plan.part_size, plan.part_count) == (PART, 3)
    lengths = [
        multipart.part_length(size=len(DATA), part_size=plan.part_size, part_number=n) for n in (1, 2, 3)
    ]
    assert lengths == [PART, PART, len(DATA) - 2 * PART]


@override_settings(VIDEO_JOBS_PART_SIZE=16 * MIB)
def test_the_part_size_is_raised_so_that_no_upload_has_more_than_10000_parts() -> None:
    for size in (16 * MIB * 10_000, 16 * MIB * 10_000 + 1, 50 * 1024**3, 5 * 1024**4):
        plan = multipart.PartPlan.for_size(size)
        assert plan.part_count <= multipart.MAX_PARTS
        assert plan.part_size % MIB == 0
        assert plan.part_size >= 16 * MIB
        assert plan.part_size * (plan.part_count - 1) < size <= plan.part_size * plan.part_count
    assert multipart.PartPlan.for_size(16 * MIB * 10_000).part_size == 16 * MIB


def test_small_files_keep_the_single_put(user: Any) -> None:
    job, _ = services.initiate_upload(owner=user, filename="a.mp4", content_type="video/mp4", size_bytes=MIB)
    instructions = services.upload_instructions(job)
    assert instructions is not None
    assert (instructions["method"], job.part_count, job.upload_id) == ("PUT", None, "")


@override_settings(VIDEO_JOBS_MULTIPART_THRESHOLD=100 * 1024**3)
def test_a_file_over_5_gib_goes_in_parts_whatever_the_threshold() -> None:
    assert multipart.wants_multipart(5 * 1024**3 + 1)
    assert not multipart.wants_multipart(5 * 1024**3)


# --- initiate and parts ------------------------------------------------------------------------------------


def test_initiate_creates_the_multipart_upload_once(big_job: VideoAnalysisJob, s3: Any) -> None:
    assert (big_job.part_size, big_job.part_count) == (PART, 3)
    first = big_job.upload_id
    assert first
    # A replay (the same Idempotency-Key) keeps the upload and its parts.
    services.upload_instructions(big_job)
    big_job.refresh_from_db()
    assert big_job.upload_id == first
    assert uploads_in_progress(s3, big_job) == [first]


def test_each_part_url_signs_its_exact_size(big_job: VideoAnalysisJob) -> None:
    parts = services.presign_parts(big_job, [3, 1])
    assert [part["part_number"] for part in parts] == [3, 1]
    assert [part["headers"] for part in parts] == [
        {"Content-Length": str(len(DATA) - 2 * PART)},
        {"Content-Length": str(PART)},
    ]
    for part in parts:
        assert "X-Amz-SignedHeaders=content-length%3Bhost" in part["url"]
        assert f"partNumber={part['part_number']}" in part["url"]


@pytest.mark.parametrize("numbers", [[0], [4], [1, -1]])
def test_part_numbers_outside_the_plan_are_refused(big_job: VideoAnalysisJob, numbers: list[int]) -> None:
    with pytest.raises(services.PartOutOfRange):
        services.presign_parts(big_job, numbers)


def test_held_parts_are_what_s3_lists(big_job: VideoAnalysisJob) -> None:
    put_parts(big_job, [1, 3])
    held = services.held_parts(big_job)
    assert [(part.number, part.size) for part in held] == [(1, PART), (3, len(DATA) - 2 * PART)]


def test_listing_parts_reads_every_page(big_job: VideoAnalysisJob, monkeypatch: pytest.MonkeyPatch) -> None:
    put_parts(big_job, [1, 2, 3])
    pages: list[Any] = []
    real = storage.client

    class OnePartAPage:
        def __getattr__(self, name: str) -> Any:
            return getattr(real(), name)

        def list_parts(self, **params: Any) -> Any:
            pages.append(params.get("PartNumberMarker"))
            return real().list_parts(**{**params, "MaxParts": 1})

    monkeypatch.setattr(multipart, "client", OnePartAPage)
    held = services.held_parts(big_job)
    assert [part.number for part in held] == [1, 2, 3]
    assert len(pages) == 3


def test_a_job_that_no_longer_awaits_its_upload_takes_no_parts(big_job: VideoAnalysisJob) -> None:
    services.cancel_job(job=big_job)
    with pytest.raises(services.PartsClosed):
        services.presign_parts(big_job, [1])
    with pytest.raises(services.PartsClosed):
        services.held_parts(big_job)


# --- upload-complete ---------------------------------------------------------------------------------------


def test_a_missing_part_leaves_the_job_awaiting_its_upload(big_job: VideoAnalysisJob, s3: Any) -> None:
    put_parts(big_job, [1, 3])

    result = services.complete_upload(job=big_job)

    assert (result.outcome, result.missing_parts, result.changed) == (Outcome.INCOMPLETE, [2], False)
    big_job.refresh_from_db()
    assert big_job.status == Status.AWAITING_UPLOAD
    assert uploads_in_progress(s3, big_job) == [big_job.upload_id]  # nothing completed or aborted


def test_a_part_of_the_wrong_size_counts_as_missing(big_job: VideoAnalysisJob) -> None:
    put_parts(big_job, [1, 2])
    # The last part's URL signs its exact size; moto does not check signatures, so S3's refusal of another
    # size is played here by a direct UploadPart of a short last part.
    storage.client().upload_part(
        Bucket=big_job.s3_bucket, Key=big_job.s3_key, UploadId=big_job.upload_id, PartNumber=3, Body=b"short"
    )
    assert services.complete_upload(job=big_job).missing_parts == [3]


def test_all_parts_are_assembled_and_verified_into_queued(big_job: VideoAnalysisJob, s3: Any) -> None:
    put_parts(big_job, [3, 1, 2])

    result = services.complete_upload(job=big_job)

    assert (result.outcome, result.changed, big_job.status) == (Outcome.QUEUED, True, Status.QUEUED)
    stored = s3.get_object(Bucket=big_job.s3_bucket, Key=big_job.s3_key)["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(DATA).digest()
    assert big_job.object_size == len(DATA)
    assert uploads_in_progress(s3, big_job) == []


def test_complete_is_idempotent_after_a_crash_between_s3_and_the_database(big_job: VideoAnalysisJob) -> None:
    put_parts(big_job, [1, 2, 3])
    # A first call completed the upload in S3 and died before its UPDATE.
    parts = multipart.list_parts(bucket=big_job.s3_bucket, key=big_job.s3_key, upload_id=big_job.upload_id)
    multipart.complete(
        bucket=big_job.s3_bucket, key=big_job.s3_key, upload_id=big_job.upload_id, parts=parts, size=len(DATA)
    )

    result = services.complete_upload(job=big_job)

    assert (result.outcome, big_job.status) == (Outcome.QUEUED, Status.QUEUED)
    again = services.complete_upload(job=big_job)
    assert (again.outcome, again.changed) == (Outcome.NOT_ELIGIBLE, False)


def test_an_upload_gone_without_an_object_fails_as_missing(big_job: VideoAnalysisJob) -> None:
    multipart.abort(bucket=big_job.s3_bucket, key=big_job.s3_key, upload_id=big_job.upload_id)
    result = services.complete_upload(job=big_job)
    assert (result.outcome, big_job.status, big_job.error_code) == (
        Outcome.MISSING,
        Status.FAILED,
        ErrorCode.UPLOAD_MISSING,
    )


def test_s3_down_while_assembling_changes_nothing(big_job: VideoAnalysisJob) -> None:
    with s3_down():
        result = services.complete_upload(job=big_job)
    assert (result.outcome, result.changed) == (Outcome.TRANSIENT, False)
    big_job.refresh_from_db()
    assert big_job.status == Status.AWAITING_UPLOAD


# --- staff re-verification: the same assembly ---------------------------------------------------------------


def test_staff_reverify_assembles_the_parts_like_upload_complete(big_job: VideoAnalysisJob, s3: Any) -> None:
    put_parts(big_job, [2, 3, 1])

    result = services.reverify_upload(job=big_job)

    assert (result.outcome, result.changed, big_job.status) == (Outcome.QUEUED, True, Status.QUEUED)
    stored = s3.get_object(Bucket=big_job.s3_bucket, Key=big_job.s3_key)["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(DATA).digest()
    assert (big_job.object_size, big_job.attempts) == (len(DATA), 0)
    assert uploads_in_progress(s3, big_job) == []
    # The client's own upload-complete, arriving after staff, answers the queued job.
    assert services.complete_upload(job=big_job).outcome == Outcome.NOT_ELIGIBLE


def test_staff_reverify_of_an_upload_missing_parts_leaves_it_awaiting(
    big_job: VideoAnalysisJob, s3: Any
) -> None:
    put_parts(big_job, [1, 3])

    result = services.reverify_upload(job=big_job)

    assert (result.outcome, result.missing_parts, result.changed) == (Outcome.INCOMPLETE, [2], False)
    assert result.detail == "1 of 3 parts missing"
    big_job.refresh_from_db()
    assert big_job.status == Status.AWAITING_UPLOAD
    assert uploads_in_progress(s3, big_job) == [big_job.upload_id]  # the client may still send part 2
    put_parts(big_job, [2])
    assert services.complete_upload(job=big_job).outcome == Outcome.QUEUED


# --- nothing orphaned --------------------------------------------------------------------------------------


def test_cancel_aborts_the_upload(big_job: VideoAnalysisJob, s3: Any) -> None:
    put_parts(big_job, [1])
    assert services.cancel_job(job=big_job)
    assert uploads_in_progress(s3, big_job) == []


def test_delete_aborts_the_upload(big_job: VideoAnalysisJob, s3: Any) -> None:
    put_parts(big_job, [1, 2])
    assert services.delete_job(job=big_job) == services.Deletion.DELETED
    assert uploads_in_progress(s3, big_job) == []
    assert not VideoAnalysisJob.objects.filter(pk=big_job.pk).exists()


def test_the_reconciler_assembles_an_upload_whose_client_died_before_completing_it(
    big_job: VideoAnalysisJob, s3: Any
) -> None:
    put_parts(big_job, [1, 2, 3])  # every part sent; upload-complete never called
    VideoAnalysisJob.objects.filter(pk=big_job.pk).update(
        upload_deadline=big_job.created_at - timedelta(minutes=1)
    )

    assert services.reconcile_expired_uploads() == {Outcome.QUEUED: 1}

    big_job.refresh_from_db()
    assert (big_job.status, big_job.object_size) == (Status.QUEUED, len(DATA))
    assert s3.get_object(Bucket=big_job.s3_bucket, Key=big_job.s3_key)["Body"].read() == DATA
    assert uploads_in_progress(s3, big_job) == []


def test_the_reconciler_leaves_an_upload_it_cannot_assemble_while_s3_is_down(
    big_job: VideoAnalysisJob,
) -> None:
    put_parts(big_job, [1, 2, 3])
    VideoAnalysisJob.objects.filter(pk=big_job.pk).update(
        upload_deadline=big_job.created_at - timedelta(minutes=1)
    )

    with s3_down():
        assert services.reconcile_expired_uploads() == {Outcome.TRANSIENT: 1}

    big_job.refresh_from_db()
    assert big_job.status == Status.AWAITING_UPLOAD
    assert services.reconcile_expired_uploads() == {Outcome.QUEUED: 1}


def test_the_reconciler_aborts_an_abandoned_upload(big_job: VideoAnalysisJob, s3: Any) -> None:
    put_parts(big_job, [1])
    VideoAnalysisJob.objects.filter(pk=big_job.pk).update(
        upload_deadline=big_job.created_at - timedelta(minutes=1)
    )
    assert services.reconcile_expired_uploads() == {Outcome.MISSING: 1}
    big_job.refresh_from_db()
    assert (big_job.status, big_job.error_code) == (Status.FAILED, ErrorCode.UPLOAD_EXPIRED)
    assert uploads_in_progress(s3, big_job) == []


def test_the_sweep_aborts_old_uploads_that_no_awaiting_job_owns(
    big_job: VideoAnalysisJob, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = storage.bucket_name()
    orphan = multipart.create(bucket=bucket, key=storage.video_key("no-such-job"), content_type="video/mp4")
    elsewhere = s3.create_multipart_upload(Bucket=bucket, Key="not-videos/x")["UploadId"]

    # moto dates every upload 2010-11-10, so "old" is played with the age instead: none is 100 years old.
    with monkeypatch.context() as patched:
        patched.setattr(services.parts, "ORPHAN_AGE", timedelta(days=365 * 100))
        assert services.sweep_orphan_uploads() == 0

    # Uploads other tests left behind (their jobs rolled back) are orphans too.
    assert services.sweep_orphan_uploads() >= 1

    assert uploads_in_progress(s3, big_job) == [big_job.upload_id]  # the awaiting job keeps its upload
    with pytest.raises(storage.UploadMissing):
        multipart.list_parts(bucket=bucket, key=storage.video_key("no-such-job"), upload_id=orphan)
    s3.abort_multipart_upload(Bucket=bucket, Key="not-videos/x", UploadId=elsewhere)  # not ours to sweep
