"""The staff admin: every recovery action on every status, with S3 present, missing, wrong-sized and down;
the confirmation pages; the filters; the read-only job page; who may reach it at all."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from django.utils import timezone

from video_jobs.admin.actions import MAX_JOBS_PER_ACTION
from video_jobs.models import ErrorCode, VideoAnalysisJob
from video_jobs.s3 import storage

from ..support.admin_actions import CHANGELIST, STATES, STUCK, job_in, reported, run_action, snapshot
from ..support.jobs import VIDEO, make_job
from ..support.s3_config import s3_down

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
UPLOAD_FAILURES = [
    "failed_upload_missing",
    "failed_upload_size_mismatch",
    "failed_upload_too_large",
    "failed_upload_expired",
]
PROCESSING_FAILURES = [
    "failed_upload_changed",
    "failed_upload_checksum_mismatch",
    "failed_invalid_video",
    "failed_video_limits_exceeded",
    "failed_analysis_timeout",
    "failed_analysis_crashed",
    "failed_attempts_exhausted",
    "failed_lost",
]
# What each action does to a job in each state when its video is in S3 with the declared size.
# Anything not listed must be left exactly as it was.
MOVES: dict[str, dict[str, str]] = {
    "reverify_upload_and_queue": {
        "awaiting_upload": Status.QUEUED,
        **dict.fromkeys(UPLOAD_FAILURES, Status.QUEUED),
    },
    "retry_failed_jobs": dict.fromkeys(PROCESSING_FAILURES, Status.QUEUED),
    "requeue_stale_processing": {"processing_stale": Status.QUEUED},
    "cancel_jobs": {"awaiting_upload": Status.CANCELLED, "queued": Status.CANCELLED},
}
MATRIX = [(action, state) for action in MOVES for state in STATES]
ACTION_LABELS = {
    "reverify_upload_and_queue": "Re-verify upload and queue",
    "retry_failed_jobs": "Retry failed jobs",
    "requeue_stale_processing": "Requeue stale processing jobs",
    "cancel_jobs": "Cancel jobs",
}


def left_as_it_was(job: VideoAnalysisJob, before: dict[str, Any], response: Any) -> tuple[int, str]:
    """Assert that the action changed nothing in the job's row; return the one message it gave for it."""
    job.refresh_from_db()
    assert snapshot(job) == before
    [report] = reported(response)
    return report


@pytest.fixture
def heads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Every HeadObject the code makes: (key, size it answered, or the exception it raised)."""
    calls: list[tuple[str, object]] = []
    real_head = storage.head

    def recording_head(*, bucket: str, key: str) -> storage.ObjectInfo:
        try:
            info = real_head(bucket=bucket, key=key)
        except storage.StorageError as exc:
            calls.append((key, exc))
            raise
        calls.append((key, info.size))
        return info

    monkeypatch.setattr(storage, "head", recording_head)
    return calls


# --- every action on every status --------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "state"), MATRIX)
def test_each_action_on_each_status_moves_exactly_the_eligible_jobs(
    staff: Client, admin_user: Any, put_video: Callable[..., None], action: str, state: str
) -> None:
    job = job_in(state, admin_user)
    put_video(job, VIDEO)
    before = snapshot(job)

    response = run_action(staff, action, [job])

    assert response.status_code == 200
    expected = MOVES[action].get(state)
    if expected is None:
        level, text = left_as_it_was(job, before, response)
        assert level == messages.WARNING
        assert text.startswith(f"Job {job.pk} ({job.filename}): skipped: it is")
    else:
        job.refresh_from_db()
        assert job.status == expected
        [(level, text)] = reported(response)
        assert level == messages.SUCCESS
    # The admin log says who did what to which job, and what came of it.
    entry = LogEntry.objects.get(object_id=str(job.pk))
    assert entry.user == admin_user
    assert entry.is_change()
    outcome = text.removeprefix(f"Job {job.pk} ({job.filename}): ")
    assert entry.change_message == f"{ACTION_LABELS[action]}: {outcome}"


@pytest.mark.parametrize("state", ["awaiting_upload", *UPLOAD_FAILURES])
def test_reverify_queues_a_present_upload_with_the_object_it_saw(
    staff: Client, admin_user: Any, put_video: Callable[..., None], state: str
) -> None:
    job = job_in(state, admin_user, attempts=2)
    put_video(job, VIDEO)

    response = run_action(staff, "reverify_upload_and_queue", [job])

    job.refresh_from_db()
    assert job.status == Status.QUEUED
    assert (job.error_code, job.error_message, job.attempts) == ("", "", 0)
    assert job.object_size == len(VIDEO)
    assert job.object_etag
    assert job.verified_at is not None
    assert job.run_after <= timezone.now()
    assert reported(response) == [
        (messages.SUCCESS, f"Job {job.pk} ({job.filename}): video found in S3 ({len(VIDEO)} bytes): queued")
    ]


@pytest.mark.parametrize("state", ["awaiting_upload", "failed_upload_missing", "failed_upload_expired"])
@pytest.mark.parametrize(
    ("arrange", "reason"),
    [
        ("missing", "video not in S3"),
        ("wrong_size", "video in S3 has the wrong size"),
        ("too_large", "video in S3 is too large"),
    ],
)
def test_reverify_leaves_a_job_whose_video_is_missing_or_wrong_as_it_was(
    staff: Client,
    admin_user: Any,
    put_video: Callable[..., None],
    state: str,
    arrange: str,
    reason: str,
) -> None:
    job = job_in(state, admin_user)
    if arrange == "wrong_size":
        put_video(job, VIDEO + b"extra")
    elif arrange == "too_large":
        put_video(job, VIDEO)
    before = snapshot(job)

    with override_settings(VIDEO_JOBS_MAX_UPLOAD_BYTES=len(VIDEO) - 1 if arrange == "too_large" else 10**9):
        response = run_action(staff, "reverify_upload_and_queue", [job])

    level, text = left_as_it_was(job, before, response)
    assert level == messages.WARNING
    assert f"left {job.status}" in text
    assert reason in text
    if arrange == "missing":
        assert f"s3://{job.s3_bucket}/{job.s3_key} does not exist" in text


@pytest.mark.parametrize(
    ("action", "state"),
    [
        ("reverify_upload_and_queue", "awaiting_upload"),
        ("reverify_upload_and_queue", "failed_upload_missing"),
        ("retry_failed_jobs", "failed_invalid_video"),
        ("retry_failed_jobs", "failed_lost"),
    ],
)
def test_verifying_actions_leave_the_job_and_say_so_when_s3_is_down(
    staff: Client, admin_user: Any, put_video: Callable[..., None], action: str, state: str
) -> None:
    job = job_in(state, admin_user)
    put_video(job, VIDEO)
    before = snapshot(job)

    with s3_down():
        response = run_action(staff, action, [job])

    level, text = left_as_it_was(job, before, response)
    assert level == messages.ERROR
    assert "S3 could not be reached, try again later" in text


@pytest.mark.parametrize("arrange", ["missing", "wrong_size"])
def test_retry_leaves_a_failed_job_failed_when_its_video_is_gone_or_changed(
    staff: Client, admin_user: Any, put_video: Callable[..., None], arrange: str
) -> None:
    job = job_in("failed_invalid_video", admin_user)
    if arrange == "wrong_size":
        put_video(job, b"replaced")
    before = snapshot(job)

    response = run_action(staff, "retry_failed_jobs", [job])

    level, text = left_as_it_was(job, before, response)
    assert level == messages.WARNING
    assert f"left failed ({ErrorCode.INVALID_VIDEO})" in text


def test_retry_resets_attempts_and_clears_the_error(
    staff: Client, admin_user: Any, put_video: Callable[..., None]
) -> None:
    job = job_in("failed_attempts_exhausted", admin_user)
    put_video(job, VIDEO)

    run_action(staff, "retry_failed_jobs", [job])

    job.refresh_from_db()
    assert (job.status, job.attempts, job.error_code, job.finished_at) == (Status.QUEUED, 0, "", None)


def test_requeue_fails_a_stale_job_as_lost_once_its_attempts_are_used(staff: Client, admin_user: Any) -> None:
    job = job_in("processing_stale", admin_user, attempts=3, max_attempts=3)

    response = run_action(staff, "requeue_stale_processing", [job])

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, ErrorCode.LOST)
    [(level, text)] = reported(response)
    assert level == messages.WARNING
    assert "failed as lost" in text


def test_requeue_puts_a_stale_job_back_with_a_backoff(staff: Client, admin_user: Any) -> None:
    job = job_in("processing_stale", admin_user)

    response = run_action(staff, "requeue_stale_processing", [job])

    job.refresh_from_db()
    assert (job.status, job.worker_id, job.lease_expires_at) == (Status.QUEUED, "", None)
    assert job.run_after > timezone.now()
    [(level, text)] = reported(response)
    assert level == messages.SUCCESS
    assert "requeued after 1 of 3 attempts" in text


def test_an_action_reports_each_job_on_its_own(
    staff: Client, admin_user: Any, put_video: Callable[..., None]
) -> None:
    present = job_in("awaiting_upload", admin_user)
    put_video(present, VIDEO)
    missing = job_in("awaiting_upload", admin_user)
    done = job_in("done", admin_user)

    response = run_action(staff, "reverify_upload_and_queue", [present, missing, done])

    by_job = {text.split()[1]: (level, text) for level, text in reported(response)}
    assert by_job[str(present.pk)][0] == messages.SUCCESS
    assert by_job[str(missing.pk)][0] == messages.WARNING
    assert "video not in S3" in by_job[str(missing.pk)][1]
    assert by_job[str(done.pk)][0] == messages.WARNING
    assert "only awaiting_upload jobs and failed jobs with an upload error" in by_job[str(done.pk)][1]
    assert LogEntry.objects.count() == 3


def test_no_job_is_ever_queued_without_a_successful_head_object_of_its_own_key(
    staff: Client,
    admin_user: Any,
    put_video: Callable[..., None],
    heads: list[tuple[str, object]],
) -> None:
    # Every state, each with its video present, of the wrong size, and missing.
    jobs: dict[tuple[str, str], VideoAnalysisJob] = {}
    for state in STATES:
        for video, body in (("present", VIDEO), ("wrong_size", b"wrong size"), ("missing", None)):
            job = jobs[state, video] = job_in(state, admin_user)
            if body is not None:
                put_video(job, body)
    queued_before = {job.pk for job in jobs.values() if job.status == Status.QUEUED}

    run_action(staff, "reverify_upload_and_queue", list(jobs.values()))
    run_action(staff, "retry_failed_jobs", list(jobs.values()))

    became_queued = VideoAnalysisJob.objects.filter(status=Status.QUEUED).exclude(pk__in=queued_before)
    verifiable = ["awaiting_upload", *UPLOAD_FAILURES, *PROCESSING_FAILURES]
    assert set(became_queued) == {jobs[state, "present"] for state in verifiable}
    confirmed = {key for key, answer in heads if answer == len(VIDEO)}
    for job in became_queued:
        assert job.s3_key in confirmed, f"{job.pk} was queued without S3 confirming its video"
    # A job neither action may touch never costs a HeadObject either.
    untouchable = {job.s3_key for (state, _), job in jobs.items() if state not in verifiable}
    assert not untouchable & {key for key, _ in heads}


# --- the confirmation page ---------------------------------------------------------------------------------


def test_an_action_first_shows_what_it_will_touch_and_changes_nothing(
    staff: Client, admin_user: Any, put_video: Callable[..., None], heads: list[tuple[str, object]]
) -> None:
    stuck = job_in("awaiting_upload", admin_user)
    put_video(stuck, VIDEO)
    queued = job_in("queued", admin_user)

    response = run_action(staff, "reverify_upload_and_queue", [stuck, queued], confirm=False)

    assert response.status_code == 200
    assert response.templates[0].name == ("admin/video_jobs/videoanalysisjob/action_confirmation.html")
    assert [job.pk for job in response.context["eligible"]] == [stuck.pk]
    assert [(job.pk, reason) for job, reason in response.context["skipped"]] == [
        (
            queued.pk,
            "it is queued; only awaiting_upload jobs and failed jobs with an upload error, whose source "
            "video is kept, can be re-verified",
        )
    ]
    page = response.content.decode()
    assert f'name="_selected_action" value="{stuck.pk}"' in page
    assert f'name="_selected_action" value="{queued.pk}"' not in page  # only the eligible are posted back
    assert 'name="post" value="yes"' in page
    assert 'name="action" value="reverify_upload_and_queue"' in page
    stuck.refresh_from_db()
    assert stuck.status == Status.AWAITING_UPLOAD
    assert heads == []
    assert LogEntry.objects.count() == 0


def test_the_confirmation_page_offers_no_yes_when_nothing_is_eligible(staff: Client, admin_user: Any) -> None:
    done = job_in("done", admin_user)

    response = run_action(staff, "cancel_jobs", [done], confirm=False)

    assert response.context["eligible"] == []
    assert 'value="Yes' not in response.content.decode()
    assert "None of the selected jobs can be touched" in response.content.decode()


@pytest.mark.parametrize("action", list(ACTION_LABELS))
def test_every_action_has_a_confirmation_page(staff: Client, admin_user: Any, action: str) -> None:
    job = job_in("awaiting_upload", admin_user)
    response = run_action(staff, action, [job], confirm=False)
    assert "action_confirmation.html" in response.templates[0].name
    assert response.context["action"].name == action


def test_too_many_jobs_at_once_are_refused(staff: Client, admin_user: Any) -> None:
    jobs = [job_in("awaiting_upload", admin_user) for _ in range(MAX_JOBS_PER_ACTION + 1)]

    response = run_action(staff, "cancel_jobs", jobs)

    assert reported(response) == [
        (
            messages.ERROR,
            f"{MAX_JOBS_PER_ACTION + 1} jobs selected: select at most {MAX_JOBS_PER_ACTION} at a time "
            "(each one may cost an S3 request).",
        )
    ]
    assert VideoAnalysisJob.objects.filter(status=Status.CANCELLED).count() == 0


# --- filters, search, summary ------------------------------------------------------------------------------


@pytest.fixture
def population(admin_user: Any, django_user_model: Any) -> dict[str, VideoAnalysisJob]:
    carol = django_user_model.objects.create_user(username="carol", email="carol@example.com")
    now = timezone.now()
    return {
        "stuck_old": make_job(admin_user, Status.AWAITING_UPLOAD, age=timedelta(hours=3)),
        "stuck_just": make_job(admin_user, Status.AWAITING_UPLOAD, age=timedelta(minutes=5, seconds=5)),
        "fresh": make_job(carol, Status.AWAITING_UPLOAD, age=timedelta(minutes=4), filename="nets.mov"),
        "queued_old": make_job(admin_user, Status.QUEUED, age=timedelta(hours=3)),
        "stale": make_job(
            carol, Status.PROCESSING, age=timedelta(hours=1), lease_expires_at=now - timedelta(seconds=1)
        ),
        "live": make_job(admin_user, Status.PROCESSING, age=timedelta(hours=1)),
        "no_lease": make_job(admin_user, Status.PROCESSING, age=timedelta(hours=1), lease_expires_at=None),
        "failed": make_job(admin_user, Status.FAILED, age=timedelta(hours=2)),
        "done": make_job(admin_user, Status.DONE, age=timedelta(hours=2)),
    }


def listed(client: Client, query: str) -> set[object]:
    response = client.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 200  # an invalid filter would redirect to ?e=1
    return {job.pk for job in response.context["cl"].result_list}


def pks(population: dict[str, VideoAnalysisJob], *names: str) -> set[object]:
    return {population[name].pk for name in names}


def test_stuck_upload_filter_lists_exactly_the_uploads_older_than_the_setting(
    staff: Client, population: dict[str, VideoAnalysisJob]
) -> None:
    assert listed(staff, "stuck_upload=yes") == pks(population, "stuck_old", "stuck_just")
    with override_settings(VIDEO_JOBS_STUCK_UPLOAD_MINUTES=60):
        assert listed(staff, "stuck_upload=yes") == pks(population, "stuck_old")
        assert "Awaiting upload &gt; 60 min" in staff.get(CHANGELIST).content.decode()


def test_stale_processing_filter_lists_exactly_the_expired_leases(
    staff: Client, population: dict[str, VideoAnalysisJob]
) -> None:
    assert listed(staff, "stale_processing=yes") == pks(population, "stale")


def test_status_and_stage_filters(staff: Client, population: dict[str, VideoAnalysisJob]) -> None:
    assert listed(staff, "status__exact=processing") == pks(population, "stale", "live", "no_lease")
    assert listed(staff, "stage__exact=awaiting_upload") == pks(
        population, "stuck_old", "stuck_just", "fresh"
    )
    assert listed(staff, "status__exact=processing&stale_processing=yes") == pks(population, "stale")


def test_the_error_code_filter_lists_the_jobs_that_failed_that_way(
    staff: Client, population: dict[str, VideoAnalysisJob], admin_user: Any
) -> None:
    lost = make_job(admin_user, Status.FAILED, error_code=ErrorCode.LOST, error_message="lost")

    assert listed(staff, "error_code__exact=invalid_video") == pks(population, "failed")
    assert listed(staff, "error_code__exact=lost") == {lost.pk}
    # The filter panel offers every code, whether or not a job has it now.
    page = staff.get(CHANGELIST).content.decode()
    assert all(f"?error_code__exact={code}" in page for code in ErrorCode.values)


def test_the_list_shows_every_job_with_its_columns(
    staff: Client, population: dict[str, VideoAnalysisJob]
) -> None:
    response = staff.get(CHANGELIST)
    assert {job.pk for job in response.context["cl"].result_list} == pks(population, *population)
    # The columns staff see (the summary above the list has a table of its own).
    results = response.content.decode().split('id="result_list"', 1)[1]
    columns = re.findall(r'class="[^"]*column-(\w+)', results.split("</thead>", 1)[0])
    assert {"id", "owner", "filename", "status", "stage", "progress", "attempts", "age"} <= set(columns)
    assert response.context["cl"].date_hierarchy == "created_at"
    assert "3\xa0hours" in response.content.decode()  # the age column


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        (lambda p: str(p["stale"].pk), ["stale"]),
        (lambda p: str(p["stale"].pk).upper(), ["stale"]),
        (lambda p: p["queued_old"].s3_key, ["queued_old"]),
        (lambda p: "nets.mo", ["fresh"]),
        (lambda p: "carol", ["fresh", "stale"]),
        (lambda p: "carol@example", ["fresh", "stale"]),
        (lambda p: "no such thing", []),
    ],
)
def test_search_by_id_key_filename_or_owner(
    staff: Client, population: dict[str, VideoAnalysisJob], term: Callable[..., str], expected: list[str]
) -> None:
    response = staff.get(CHANGELIST, {"q": term(population)})
    assert {job.pk for job in response.context["cl"].result_list} == pks(population, *expected)


def test_the_list_starts_with_the_queue_at_a_glance(
    staff: Client, population: dict[str, VideoAnalysisJob]
) -> None:
    response = staff.get(CHANGELIST)

    stats = response.context["job_stats"]
    assert stats.by_status == {
        "awaiting_upload": 3,
        "queued": 1,
        "processing": 3,
        "done": 1,
        "failed": 1,
        "cancelled": 0,
    }
    assert (stats.stuck_uploads, stats.stale_processing) == (2, 1)
    page = response.content.decode()
    assert "Queue at a glance" in page
    assert '<a href="?stuck_upload=yes">2</a>' in page
    assert '<a href="?stale_processing=yes">1</a>' in page
    assert '<td data-status="processing"><a href="?status__exact=processing">3</a></td>' in page
    assert "3\xa0hours" in page.split('id="summary-oldest-queued"')[1].split("</td>")[0]


# --- the job page is read-only; who may come in ------------------------------------------------------------


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


def test_jobs_cannot_be_added_by_hand(staff: Client) -> None:
    assert staff.get(f"{CHANGELIST}add/").status_code == 403


def test_anonymous_users_are_sent_to_the_login_page(client: Client) -> None:
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_non_staff_users_cannot_reach_the_admin(client: Client, user: Any) -> None:
    job = make_job(user, Status.AWAITING_UPLOAD, age=STUCK)
    client.force_login(user)

    assert client.get(CHANGELIST)["Location"].startswith("/admin/login/")
    response = client.post(CHANGELIST, {"action": "cancel_jobs", "_selected_action": [job.pk], "post": "yes"})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    job.refresh_from_db()
    assert job.status == Status.AWAITING_UPLOAD


def test_staff_without_permissions_are_refused(client: Client, django_user_model: Any) -> None:
    clerk = django_user_model.objects.create_user(username="clerk", is_staff=True)
    client.force_login(clerk)
    assert client.get(CHANGELIST).status_code == 403


def test_staff_who_may_only_view_get_no_recovery_actions(client: Client, django_user_model: Any) -> None:
    viewer = django_user_model.objects.create_user(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_videoanalysisjob"))
    job = make_job(viewer, Status.AWAITING_UPLOAD, age=STUCK)
    client.force_login(viewer)

    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert response.context["action_form"] is None or not [
        name for name, _ in response.context["action_form"].fields["action"].choices if name
    ]
    client.post(CHANGELIST, {"action": "cancel_jobs", "_selected_action": [job.pk], "post": "yes"})
    job.refresh_from_db()
    assert job.status == Status.AWAITING_UPLOAD
    assert LogEntry.objects.count() == 0
