"""Every recovery action on every status, with S3 present, missing, wrong-sized and down: what each moves,
what it leaves exactly as it was, what it reports and logs; and no job queued without a HeadObject of its
own key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.admin.models import LogEntry
from django.test import Client, override_settings
from django.utils import timezone

from video_jobs.models import ErrorCode, VideoAnalysisJob

from ..support.admin_actions import ACTION_LABELS, STATES, job_in, reported, run_action, snapshot
from ..support.jobs import VIDEO
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


def left_as_it_was(job: VideoAnalysisJob, before: dict[str, Any], response: Any) -> tuple[int, str]:
    """Assert that the action changed nothing in the job's row; return the one message it gave for it."""
    job.refresh_from_db()
    assert snapshot(job) == before
    [report] = reported(response)
    return report


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
