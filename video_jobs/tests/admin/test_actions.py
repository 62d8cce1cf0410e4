"""The admin's actions beyond recovery: deleting jobs through the service, and runs that stop at the first
job S3 could not be reached for. (Every recovery action on every status: test_recovery_actions.py.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.contrib import messages
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client, override_settings

from video_jobs import services
from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage

from ..support.admin_actions import CHANGELIST, job_in, reported, run_action, snapshot
from ..support.jobs import VIDEO
from ..support.s3_config import s3_down

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
MIB = 1024**2


@pytest.fixture
def s3_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every HeadObject and folder deletion the actions make, still calling the real S3."""
    calls: list[str] = []
    real_head, real_delete = storage.head, storage.delete_folder

    def head(*, bucket: str, key: str) -> storage.ObjectInfo:
        calls.append(key)
        return real_head(bucket=bucket, key=key)

    def delete_folder(*, bucket: str, prefix: str) -> int:
        calls.append(prefix)
        return real_delete(bucket=bucket, prefix=prefix)

    monkeypatch.setattr(storage, "head", head)
    monkeypatch.setattr(storage, "delete_folder", delete_folder)
    return calls


def test_the_delete_action_deletes_jobs_with_their_objects_and_leaves_processing_ones(
    staff: Client, admin_user: Any, put_video: Callable[..., None], s3: Any
) -> None:
    done, queued, busy = (job_in(state, admin_user) for state in ("done", "queued", "processing"))
    for job in (done, queued, busy):
        put_video(job, VIDEO)

    preview = run_action(staff, "delete_jobs", [done, queued, busy], confirm=False)
    assert [job.pk for job in preview.context["eligible"]] == [done.pk, queued.pk]
    response = run_action(staff, "delete_jobs", [done, queued, busy])

    assert list(VideoAnalysisJob.objects.values_list("pk", flat=True)) == [busy.pk]
    for job, left in ((done, 0), (queued, 0), (busy, 1)):
        assert s3.list_objects_v2(Bucket=job.s3_bucket, Prefix=storage.job_folder(job.pk))["KeyCount"] == left
    assert [level for level, _ in reported(response)] == [
        messages.SUCCESS,
        messages.SUCCESS,
        messages.WARNING,
    ]
    assert {entry.object_id for entry in LogEntry.objects.all() if entry.is_deletion()} == {
        str(done.pk),
        str(queued.pk),
    }


@pytest.mark.parametrize("action", ["reverify_upload_and_queue", "delete_jobs"])
def test_a_run_stops_at_the_first_job_s3_cannot_be_reached_for(
    staff: Client, admin_user: Any, s3_calls: list[str], action: str
) -> None:
    jobs = [job_in("failed_upload_missing", admin_user) for _ in range(4)]
    before = [snapshot(job) for job in jobs]

    with s3_down():
        response = run_action(staff, action, jobs)

    assert len(s3_calls) == 1  # not four timeouts in a row
    first, stopped = reported(response)
    assert first[0] == messages.ERROR
    assert first[1].startswith(f"Job {jobs[0].pk}")
    assert "S3 could not be reached" in first[1]
    assert stopped[0] == messages.ERROR
    assert stopped[1].startswith("Stopped at the first job S3 could not be reached for; not tried")
    assert all(str(job.pk) in stopped[1] for job in jobs[1:])
    for job, was in zip(jobs[1:], before[1:], strict=True):
        job.refresh_from_db()
        assert snapshot(job) == was


@pytest.mark.parametrize("action", ["cancel_jobs", "delete_jobs"])
def test_a_job_deleted_while_the_run_reaches_it_is_reported_and_the_run_goes_on(
    staff: Client, admin_user: Any, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    gone, kept = (job_in("awaiting_upload", admin_user) for _ in range(2))
    real = services.cancel_job
    to_delete = [gone.pk]

    def cancel_after_its_owner_deleted_it(*, job: VideoAnalysisJob, **kwargs: Any) -> bool:
        if job.pk in to_delete:
            to_delete.remove(job.pk)
            assert (
                services.delete_job(job=VideoAnalysisJob.objects.get(pk=gone.pk)) == services.Deletion.DELETED
            )
        return real(job=job, **kwargs)

    monkeypatch.setattr(services, "cancel_job", cancel_after_its_owner_deleted_it)
    monkeypatch.setattr(services.deletion, "cancel_job", cancel_after_its_owner_deleted_it)

    response = run_action(staff, action, [gone, kept])

    assert reported(response)[0] == (messages.WARNING, f"Job {gone.pk} ({gone.filename}): deleted meanwhile")
    assert reported(response)[1][0] == messages.SUCCESS
    assert not VideoAnalysisJob.objects.filter(pk=gone.pk).exists()


def test_deleting_needs_the_delete_permission(client: Client, django_user_model: Any) -> None:
    clerk = django_user_model.objects.create_user(username="clerk", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_videoanalysisjob", "change_videoanalysisjob"])
    )
    job = job_in("done", clerk)
    client.force_login(clerk)

    choices = [name for name, _ in client.get(CHANGELIST).context["action_form"].fields["action"].choices]
    assert "cancel_jobs" in choices
    assert "delete_jobs" not in choices
    client.post(CHANGELIST, {"action": "delete_jobs", "_selected_action": [job.pk], "post": "yes"})
    assert VideoAnalysisJob.objects.filter(pk=job.pk).exists()


def test_reverify_assembles_a_multipart_upload_and_the_job_page_shows_its_plan(
    staff: Client, admin_user: Any, s3: Any
) -> None:
    """Staff re-verify of a job whose parts are all in S3 completes the upload exactly as upload-complete
    does (one path into queued); the job page shows the upload id and the part plan, read-only."""
    data = b"0123456789abcdef" * (11 * MIB // 16) + b"end"
    with override_settings(VIDEO_JOBS_MULTIPART_THRESHOLD=MIB, VIDEO_JOBS_PART_SIZE=5 * MIB):
        job, _ = services.initiate_upload(
            owner=admin_user, filename="match.mp4", content_type="video/mp4", size_bytes=len(data)
        )
        services.upload_instructions(job)
        for part in services.presign_parts(job, [1, 2, 3]):
            start = (part["part_number"] - 1) * 5 * MIB
            body = data[start : start + 5 * MIB]
            requests.put(part["url"], data=body, headers=part["headers"], timeout=30).raise_for_status()

    page = staff.get(f"{CHANGELIST}{job.pk}/change/").content.decode()
    for field, value in (("upload_id", job.upload_id), ("part_size", "5242880"), ("part_count", "3")):
        assert f'<div class="readonly">{value}</div>' in page.split(f"field-{field}", 1)[1][:800]

    response = run_action(staff, "reverify_upload_and_queue", [job])

    job.refresh_from_db()
    assert (job.status, job.object_size) == (Status.QUEUED, len(data))
    [(level, text)] = reported(response)
    assert level == messages.SUCCESS
    assert text.endswith(f"video found in S3 ({len(data)} bytes): queued")
    assert s3.get_object(Bucket=job.s3_bucket, Key=job.s3_key)["Body"].read() == data
    assert s3.list_multipart_uploads(Bucket=job.s3_bucket, Prefix=job.s3_key).get("Uploads", []) == []


def test_reverify_of_a_multipart_upload_missing_parts_says_so_and_leaves_it(
    staff: Client, admin_user: Any, s3: Any
) -> None:
    with override_settings(VIDEO_JOBS_MULTIPART_THRESHOLD=MIB, VIDEO_JOBS_PART_SIZE=5 * MIB):
        job, _ = services.initiate_upload(
            owner=admin_user, filename="match.mp4", content_type="video/mp4", size_bytes=11 * MIB
        )
        services.upload_instructions(job)
    before = snapshot(job)

    response = run_action(staff, "reverify_upload_and_queue", [job])

    [(level, text)] = reported(response)
    assert level == messages.WARNING
    assert "multipart upload not whole in S3 (3 of 3 parts missing)" in text
    job.refresh_from_db()
    assert snapshot(job) == before
