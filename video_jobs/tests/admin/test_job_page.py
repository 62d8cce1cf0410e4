"""A job's own page: read-only, with the error detail the client is not shown; deleting from it goes
through the service, objects first; Django's own bulk delete is not offered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.admin.models import LogEntry
from django.test import Client

from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage

from ..support.admin_actions import CHANGELIST, job_in, reported
from ..support.jobs import VIDEO
from ..support.s3_config import s3_down

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status


def test_the_job_page_shows_status_stage_and_s3_location_read_only(staff: Client, admin_user: Any) -> None:
    job = job_in("awaiting_upload", admin_user)
    url = f"{CHANGELIST}{job.pk}/change/"

    page = staff.get(url)

    assert page.status_code == 200
    html = page.content.decode()
    for field, value in (("s3_key", job.s3_key), ("s3_bucket", job.s3_bucket), ("status", "Awaiting upload")):
        assert f'<div class="readonly">{value}</div>' in html.split(f"field-{field}", 1)[1][:800]
    # No field can be edited and there is no save button: only actions change a job.
    form = html.split('id="videoanalysisjob_form"', 1)[1].split("</form>", 1)[0]
    assert "<textarea" not in form
    assert "<select" not in form
    assert not [tag for tag in form.split("<input")[1:] if 'type="hidden"' not in tag.split(">")[0]]
    assert 'name="_save"' not in html

    response = staff.post(url, {"status": "queued", "stage": "queued", "filename": "x"})
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == Status.AWAITING_UPLOAD


def test_the_job_page_shows_staff_the_error_detail_the_client_is_not_shown(
    staff: Client, admin_user: Any
) -> None:
    job = job_in(
        "failed_upload_missing",
        admin_user,
        error_message="No video was found for this job.",
        error_detail="s3://cricksy-test-videos/videos/x/source does not exist",
    )
    html = staff.get(f"{CHANGELIST}{job.pk}/change/").content.decode()
    detail = html.split("field-error_detail", 1)[1][:800]
    assert "s3://cricksy-test-videos/videos/x/source does not exist" in detail


# --- deleting: through the service, objects first ---------------------------------------------------------


def folder(s3: Any, job: VideoAnalysisJob) -> list[str]:
    listed = s3.list_objects_v2(Bucket=job.s3_bucket, Prefix=storage.job_folder(job.pk))
    return [item["Key"] for item in listed.get("Contents", [])]


def test_deleting_from_the_job_page_deletes_its_objects_then_the_job(
    staff: Client, admin_user: Any, put_video: Callable[..., None], s3: Any
) -> None:
    job = job_in("done", admin_user)
    put_video(job, VIDEO)
    s3.put_object(Bucket=job.s3_bucket, Key=storage.artifact_key(job.pk, "poster.jpg"), Body=b"jpeg")
    url = f"{CHANGELIST}{job.pk}/delete/"
    assert staff.get(url).status_code == 200  # Django's "are you sure?" page

    response = staff.post(url, {"post": "yes"}, follow=True)

    assert response.redirect_chain[-1][0] == CHANGELIST
    assert folder(s3, job) == []
    assert not VideoAnalysisJob.objects.filter(pk=job.pk).exists()
    [(level, text)] = reported(response)
    assert (level, text) == (
        messages.SUCCESS,
        f"Job {job.pk} ({job.filename}): deleted with its video and artifacts",
    )
    entry = LogEntry.objects.get(object_id=str(job.pk))
    assert entry.is_deletion()


def test_a_processing_job_is_not_deleted_from_its_page(
    staff: Client, admin_user: Any, put_video: Callable[..., None], s3: Any
) -> None:
    job = job_in("processing", admin_user)
    put_video(job, VIDEO)

    response = staff.post(f"{CHANGELIST}{job.pk}/delete/", {"post": "yes"}, follow=True)

    assert response.redirect_chain[-1][0] == f"{CHANGELIST}{job.pk}/change/"
    assert folder(s3, job) == [job.s3_key]
    assert VideoAnalysisJob.objects.get(pk=job.pk).status == Status.PROCESSING
    [(level, text)] = reported(response)
    assert level == messages.WARNING
    assert text.endswith("not deleted: a worker is processing it")
    assert not LogEntry.objects.get(object_id=str(job.pk)).is_deletion()


def test_with_s3_down_the_job_page_keeps_the_job(staff: Client, admin_user: Any) -> None:
    job = job_in("failed_invalid_video", admin_user)
    with s3_down():
        response = staff.post(f"{CHANGELIST}{job.pk}/delete/", {"post": "yes"}, follow=True)
    assert VideoAnalysisJob.objects.filter(pk=job.pk).exists()
    [(level, text)] = reported(response)
    assert level == messages.ERROR
    assert "S3 could not be reached" in text


def test_djangos_own_bulk_delete_is_not_offered(staff: Client, admin_user: Any) -> None:
    job = job_in("done", admin_user)
    choices = [name for name, _ in staff.get(CHANGELIST).context["action_form"].fields["action"].choices]
    assert "delete_selected" not in choices
    assert "delete_jobs" in choices

    staff.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [job.pk], "post": "yes"})
    assert VideoAnalysisJob.objects.filter(pk=job.pk).exists()
