"""End to end in a real browser: Debian's chromium, headless, driven by Playwright against the live server.

A staff member logs in, filters the stuck uploads, re-verifies one whose video is in S3 (it becomes queued)
and one whose video is not (it stays where it was, with the reason shown); a done job's page shows its poster
and motion chart. ``make browser`` installs chromium.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from video_jobs.models import VideoAnalysisJob

from ..support.browser_checks import check_analysis_drawn
from ..support.jobs import VIDEO, make_job

# The live server's thread must see the rows. What the pages do with them is proven on both databases by
# the admin's own tests; in a browser, once is enough.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.any_database]

Status = VideoAnalysisJob.Status
PASSWORD = "staff-password-4-tests"
CHANGELIST = "/admin/video_jobs/videoanalysisjob/"


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("staff", "staff@example.com", PASSWORD)


def log_in(page: Page) -> None:
    page.goto("/admin/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_contain_text("Cricksy video jobs")


def row_of(page: Page, job: VideoAnalysisJob) -> Any:
    return page.locator("#result_list tbody tr").filter(
        has=page.locator(f'input[name="_selected_action"][value="{job.pk}"]')
    )


def reverify(page: Page, job: VideoAnalysisJob) -> None:
    row_of(page, job).locator('input[name="_selected_action"]').check()
    page.select_option('select[name="action"]', "reverify_upload_and_queue")
    page.click('button[name="index"]')
    # The confirmation page lists the job before anything happens.
    expect(page.locator("h1")).to_have_text("Re-verify upload and queue: are you sure?")
    expect(page.locator("#eligible-jobs")).to_contain_text(str(job.pk))
    page.get_by_role("button", name="Yes, I'm sure").click()


def test_staff_recover_stuck_uploads_in_a_real_browser(
    page: Page, staff: Any, put_video: Callable[..., None]
) -> None:
    stuck = timedelta(minutes=20)
    present = make_job(staff, Status.AWAITING_UPLOAD, age=stuck, filename="over 12 - uploaded.mp4")
    missing = make_job(staff, Status.AWAITING_UPLOAD, age=stuck, filename="over 13 - never arrived.mp4")
    fresh = make_job(staff, Status.AWAITING_UPLOAD, filename="still uploading.mp4")
    make_job(staff, Status.QUEUED, age=stuck, filename="already queued.mp4")
    put_video(present, VIDEO)

    log_in(page)
    page.goto(CHANGELIST)
    expect(page.locator("#summary-stuck-uploads")).to_have_text("2")
    page.get_by_role("link", name="Awaiting upload > 5 min").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    expect(row_of(page, fresh)).to_have_count(0)

    # The video is in S3 with the declared size: verified and queued.
    reverify(page, present)
    success = page.locator("ul.messagelist li.success")
    expect(success).to_contain_text(f"Job {present.pk} ({present.filename}): video found in S3")
    expect(success).to_contain_text("queued")
    expect(row_of(page, present)).to_have_count(0)  # no longer a stuck upload
    page.goto(CHANGELIST)
    page.fill("#searchbar", str(present.pk))
    page.keyboard.press("Enter")
    expect(row_of(page, present).locator("td.field-status")).to_have_text("Queued")

    # The video never arrived: the job stays where it was, and the message says why.
    page.goto(f"{CHANGELIST}?stuck_upload=yes")
    reverify(page, missing)
    warning = page.locator("ul.messagelist li.warning")
    expect(warning).to_contain_text(
        f"Job {missing.pk} ({missing.filename}): left awaiting_upload: video not in S3"
    )
    expect(warning).to_contain_text(f"{missing.s3_key} does not exist")
    expect(row_of(page, missing).locator("td.field-status")).to_have_text("Awaiting upload")

    present.refresh_from_db()
    missing.refresh_from_db()
    assert (present.status, present.object_size) == (Status.QUEUED, len(VIDEO))
    assert (missing.status, missing.error_code) == (Status.AWAITING_UPLOAD, "")


def test_staff_see_a_done_jobs_poster_and_motion_chart_on_its_admin_page(
    page: Page, staff: Any, done_job: VideoAnalysisJob
) -> None:
    log_in(page)
    page.goto(f"{CHANGELIST}{done_job.pk}/change/")

    check_analysis_drawn(page, "#admin-analysis", done_job.result)
    raw = page.locator("details.cricksy-raw")
    expect(raw.locator("pre")).to_be_hidden()  # collapsed until asked for
    raw.locator("summary").click()
    expect(raw.locator("pre")).to_contain_text('"segment_count"')
