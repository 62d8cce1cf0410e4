"""Objects no row keeps: a late upload through a URL handed out before its job was deleted, cancelled or
failed is swept (tombstones, then the folder sweep), a deleted user's objects go, and nothing a live or
verified job keeps is ever touched. Real PUTs to moto's server through the presigned URLs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from video_jobs import services
from video_jobs.models import ErrorCode, UploadTombstone, VideoAnalysisJob
from video_jobs.s3 import storage
from video_jobs.services import Outcome, strays
from video_jobs.worker.loop import Worker

from ..support.api_requests import initiate
from ..support.jobs import VIDEO, make_job
from ..support.s3_config import s3_down

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
MIB = 1024**2


def keys(s3: Any, job_id: object) -> list[str]:
    listed = s3.list_objects_v2(Bucket=storage.bucket_name(), Prefix=storage.job_folder(job_id))
    return sorted(item["Key"] for item in listed.get("Contents", []))


def put(upload: dict[str, Any]) -> None:
    """The client's PUT, to the URL initiate handed out, with exactly its headers."""
    response = requests.put(upload["url"], data=VIDEO, headers=upload["headers"], timeout=30)
    assert response.status_code == 200, response.text


def urls_expired(job_id: str) -> None:
    """An hour and a quarter later, by the database's clock: every URL handed out for the job has expired."""
    past = timezone.now() - timedelta(seconds=1)
    UploadTombstone.objects.filter(pk=job_id).update(urls_expire_at=past, sweep_after=past)


def test_a_late_upload_to_a_deleted_jobs_url_never_stays(
    api: APIClient, s3: Any, make_worker: Callable[..., Worker]
) -> None:
    created = initiate(api).json()
    job_id, upload = created["id"], created["upload"]
    assert api.delete(f"/api/video-jobs/{job_id}/").status_code == 204
    worker = make_worker()

    put(upload)  # still valid for an hour: S3 takes it
    assert keys(s3, job_id) == [storage.video_key(job_id)]
    worker.sweep()
    assert keys(s3, job_id) == []

    put(upload)  # again, while the URL lives: the tombstone waits for it
    worker.sweep()
    assert UploadTombstone.objects.filter(pk=job_id).exists()
    urls_expired(job_id)
    worker.sweep()
    assert keys(s3, job_id) == []
    assert not UploadTombstone.objects.filter(pk=job_id).exists()


def test_a_deleted_user_leaves_nothing_in_s3_even_with_s3_down_at_first(
    user: Any, s3: Any, django_user_model: Any
) -> None:
    done = make_job(user, Status.DONE)
    for name in ("source", "poster.jpg"):
        s3.put_object(Bucket=done.s3_bucket, Key=storage.artifact_key(done.pk, name), Body=VIDEO)
    with override_settings(VIDEO_JOBS_MULTIPART_THRESHOLD=MIB, VIDEO_JOBS_PART_SIZE=5 * MIB):
        big, _ = services.initiate_upload(
            owner=user, filename="big.mp4", content_type="video/mp4", size_bytes=6 * MIB
        )
        assert services.upload_instructions(big) is not None  # the multipart upload is created
    big.refresh_from_db()
    [part] = services.presign_parts(big, [1])
    requests.put(part["url"], data=b"x" * 5 * MIB, headers=part["headers"], timeout=30).raise_for_status()
    processing = make_job(user, Status.PROCESSING)
    s3.put_object(Bucket=processing.s3_bucket, Key=processing.s3_key, Body=VIDEO)

    django_user_model.objects.filter(pk=user.pk).delete()

    jobs = (done, big, processing)
    assert set(UploadTombstone.objects.values_list("pk", flat=True)) >= {job.pk for job in jobs}
    with s3_down():
        assert services.sweep_tombstones() == 0  # nothing lost: the tombstones wait
    UploadTombstone.objects.update(sweep_after=timezone.now() - timedelta(seconds=1))  # later
    assert services.sweep_tombstones() >= 3
    for job in jobs:
        assert keys(s3, job.pk) == []
    uploads = s3.list_multipart_uploads(Bucket=big.s3_bucket, Prefix=big.s3_key).get("Uploads", [])
    assert uploads == []


@pytest.mark.parametrize(
    ("status", "fields", "swept"),
    [
        (Status.CANCELLED, {}, True),
        (Status.FAILED, {"error_code": ErrorCode.UPLOAD_SIZE_MISMATCH}, True),
        (Status.FAILED, {"error_code": ErrorCode.UPLOAD_EXPIRED}, True),
        (Status.CANCELLED, {"verified_at": timezone.now()}, False),  # cancelled once queued: retention's
        (Status.FAILED, {"verified_at": timezone.now()}, False),  # failed while processing
        (Status.DONE, {}, False),
        (Status.AWAITING_UPLOAD, {}, False),
        (Status.QUEUED, {}, False),
        (Status.PROCESSING, {}, False),
    ],
)
def test_the_folder_sweep_deletes_only_what_no_row_keeps(
    user: Any, s3: Any, status: str, fields: dict[str, Any], swept: bool
) -> None:
    if status in (Status.CANCELLED, Status.FAILED, Status.DONE):
        # Ended more than the URLs' lifetime ago.
        fields = {"finished_at": timezone.now() - strays.url_lifetime() - timedelta(minutes=1), **fields}
    job = make_job(user, status, **fields)
    s3.put_object(Bucket=job.s3_bucket, Key=job.s3_key, Body=VIDEO)

    sweep_all()

    job.refresh_from_db()
    assert keys(s3, job.pk) == ([] if swept else [job.s3_key])
    assert (job.source_deleted_at is not None) == swept
    assert job.status == status


def sweep_all(limit: int = 1000) -> int:
    """Every page of job folders, ``limit`` at a time, from the start."""
    swept, start = services.sweep_stray_objects(limit=limit)
    while start:
        more, start = services.sweep_stray_objects(start_after=start, limit=limit)
        swept += more
    return swept


def test_the_folder_sweep_deletes_a_gone_jobs_folder_and_leaves_names_it_did_not_make(s3: Any) -> None:
    gone = uuid.uuid4()
    bucket = storage.bucket_name()
    for key in (storage.video_key(gone), storage.artifact_key(gone, "poster.jpg")):
        s3.put_object(Bucket=bucket, Key=key, Body=VIDEO)
    s3.put_object(Bucket=bucket, Key="videos/not-a-job/source", Body=VIDEO)
    s3.put_object(Bucket=bucket, Key=f"videos/{str(gone).upper()}/source", Body=VIDEO)

    sweep_all()

    assert keys(s3, gone) == []
    left = s3.list_objects_v2(Bucket=bucket, Prefix="videos/")["Contents"]
    assert {"videos/not-a-job/source", f"videos/{str(gone).upper()}/source"} <= {item["Key"] for item in left}


def test_the_folder_sweep_lists_one_bounded_page_a_call_and_goes_on_from_there(s3: Any) -> None:
    # Three gone jobs whose folders follow each other (the bucket is shared by the whole session).
    stem = str(uuid.uuid4())[:-1]
    gone = [f"{stem}{n}" for n in range(3)]
    for job_id in gone:
        s3.put_object(Bucket=storage.bucket_name(), Key=storage.video_key(job_id), Body=VIDEO)

    start = f"{storage.VIDEOS_PREFIX}{stem}"
    for job_id in gone:
        swept, start = services.sweep_stray_objects(start_after=start, limit=1)
        assert swept == 1
        assert keys(s3, job_id) == []


def test_a_given_up_job_whose_late_upload_was_swept_cannot_be_queued_by_staff(user: Any, s3: Any) -> None:
    long_ago = timezone.now() - strays.url_lifetime() - timedelta(minutes=1)
    job = make_job(user, Status.FAILED, error_code=ErrorCode.UPLOAD_MISSING, finished_at=long_ago)
    s3.put_object(Bucket=job.s3_bucket, Key=job.s3_key, Body=VIDEO)

    sweep_all()

    assert services.reverify_upload(job=job).outcome == Outcome.NOT_ELIGIBLE
    assert keys(s3, job.pk) == []


def test_a_given_up_jobs_late_upload_waits_until_its_urls_expired(user: Any, s3: Any) -> None:
    job = make_job(user, Status.CANCELLED)  # just now: a URL may still write
    s3.put_object(Bucket=job.s3_bucket, Key=job.s3_key, Body=VIDEO)
    sweep_all()
    assert keys(s3, job.pk) == [job.s3_key]


def test_with_s3_down_the_folder_sweep_stops_and_loses_nothing(user: Any, s3: Any) -> None:
    gone = uuid.uuid4()
    s3.put_object(Bucket=storage.bucket_name(), Key=storage.video_key(gone), Body=VIDEO)
    with s3_down(), pytest.raises(storage.StorageUnavailable):
        services.sweep_stray_objects()
    sweep_all()
    assert keys(s3, gone) == []
