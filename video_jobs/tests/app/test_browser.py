"""The coaches' page end to end in a real browser: Debian's chromium (headless, Playwright) on the live
server, a stock Uppy 6 Dashboard uploading straight to a real object store (SeaweedFS, which holds the page
to the bucket's CORS rule) over HTTP through our Uppy routes, and (on
PostgreSQL, which worker processes can share with the test) a real ``run_worker`` process analysing the
video to ``done``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings
from playwright.sync_api import Browser, Page, Request, expect

from video_jobs.devtools.synthetic_video import pad_video, write_test_video
from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage
from video_jobs.s3.seaweedfs import SeaweedFS
from video_jobs.worker.loop import Worker

from ..support.browser_checks import check_analysis_drawn
from ..support.coach_page import PASSWORD, Console, analysed_job, log_in
from ..support.jobs import make_job
from ..support.s3_config import store_env
from ..support.worker_processes import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("browser_uploads")]

Status = VideoAnalysisJob.Status
MIB = 1024**2
PART = 5 * MIB  # what Uppy sends as every part but the last
ANALYZER = "video_jobs.analysis.analyze_video"
FILE_INPUT = "#uploader input.uppy-Dashboard-input[type=file]:not([webkitdirectory])"
DONE_TIMEOUT = 120_000  # ms: upload, a worker process starting, PyAV


@pytest.fixture
def coach(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("coach", password=PASSWORD)


@pytest.fixture(scope="module")
def match_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real clip (a burst of motion at 3-5 s) padded to 12 MiB and a bit: three 5 MiB parts."""
    path = tmp_path_factory.mktemp("coach") / "over 14 - full match.mp4"
    write_test_video(path, seconds=10, width=160, height=90, fps=10)
    pad_video(path, 12 * MIB + 4321)
    return path


@pytest.fixture
def small_parts() -> Iterator[None]:
    with override_settings(VIDEO_JOBS_MULTIPART_THRESHOLD=MIB, VIDEO_JOBS_PART_SIZE=PART):
        yield


class Traffic:
    """The requests the page sent: to our Uppy routes and to S3."""

    def __init__(self, page: Page) -> None:
        self.requests: list[Request] = []
        page.on("request", lambda request: self.requests.append(request))

    def part_puts(self) -> list[int]:
        return [
            int(parse_qs(urlsplit(r.url).query)["partNumber"][0])
            for r in self.requests
            if r.method == "PUT" and "partNumber=" in r.url
        ]

    def uppy_calls(self) -> list[str]:
        """``METHOD /s3/...`` of each call to the Uppy routes (the token left out)."""
        calls = []
        for request in self.requests:
            path = urlsplit(request.url).path
            if path.startswith("/api/uppy/"):
                calls.append(f"{request.method} /s3/{path.split('/s3/', 1)[1]}")
        return calls


def upload(page: Page, path: Path) -> None:
    expect(page.locator("#uploader .uppy-Dashboard")).to_be_visible()
    page.locator(FILE_INPUT).set_input_files(str(path))
    expect(page.locator(".uppy-Dashboard-Item")).to_have_count(1)
    page.locator(".uppy-StatusBar-actionBtn--upload").click()


def the_job(coach: Any) -> VideoAnalysisJob:
    return VideoAnalysisJob.objects.get(owner=coach)


@pytest.mark.postgres
def test_a_coach_uploads_a_video_in_parts_and_sees_its_analysis(
    page: Page, coach: Any, match_video: Path, small_parts: None, workers: Workers, seaweedfs: SeaweedFS
) -> None:
    workers.start(analyzer=ANALYZER, **store_env(seaweedfs))
    traffic = Traffic(page)
    log_in(page)
    upload(page, match_video)

    # The list follows the job to the end by itself (the page polls while it moves).
    item = page.locator("#jobs li.job")
    expect(item).to_have_attribute("data-status", "done", timeout=DONE_TIMEOUT)
    expect(item.locator(".status")).to_have_text("Done")
    assert traffic.part_puts() == [1, 2, 3]
    job = the_job(coach)
    size = match_video.stat().st_size
    assert (job.status, job.object_size, job.size_bytes) == (Status.DONE, size, size)

    item.locator("a.filename").click()
    expect(page).to_have_url(f"/app/jobs/{job.pk}/")
    expect(page.locator("#job-status")).to_have_text("Done")
    check_analysis_drawn(page, "#job-analysis", job.result)


@pytest.mark.postgres
def test_a_paused_upload_resumes_with_the_parts_it_lacks_and_ends_done(
    page: Page, coach: Any, match_video: Path, small_parts: None, workers: Workers, seaweedfs: SeaweedFS
) -> None:
    workers.start(analyzer=ANALYZER, **store_env(seaweedfs))
    traffic = Traffic(page)
    log_in(page)
    # Pause the moment the first part is in S3, as a coach pressing pause mid-upload would.
    page.evaluate(
        """() => window.Cricksy.uppy.once('s3-multipart:part-uploaded',
                                          (file) => window.Cricksy.uppy.pauseResume(file.id))"""
    )
    upload(page, match_video)
    page.wait_for_function(
        """part => { const [f] = window.Cricksy.uppy.getFiles()
                    return f.isPaused && f.progress.bytesUploaded >= part }""",
        arg=PART,
    )
    job = the_job(coach)
    assert job.status == Status.AWAITING_UPLOAD
    assert traffic.part_puts()[0] == 1
    # One row for the upload, saying what Uppy says (never "waiting for the upload, 0%" beside it).
    item = page.locator("#jobs li.job")
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-shown", "paused")
    percent = page.evaluate("() => Math.floor(window.Cricksy.uppy.getFiles()[0].progress.percentage)")
    assert percent >= 100 * PART // match_video.stat().st_size
    expect(item.locator(".percent")).to_have_text(f"{percent}%")
    expect(item.locator(".status")).to_have_text("Paused")

    page.get_by_title("Resume", exact=True).first.click()
    expect(item).to_have_attribute("data-status", "done", timeout=DONE_TIMEOUT)
    # Resuming asked S3 which parts it holds, and sent only the others: part 1 went up once.
    assert traffic.part_puts().count(1) == 1
    assert sorted(set(traffic.part_puts())) == [1, 2, 3]
    assert any(
        call.startswith("GET /s3/multipart/") and call.count("/") == 3 for call in traffic.uppy_calls()
    )
    job = the_job(coach)
    assert (job.status, job.object_size) == (Status.DONE, match_video.stat().st_size)


@pytest.mark.any_database
def test_a_small_video_goes_up_in_one_form_post_is_queued_cancelled_and_deleted(
    page: Page, coach: Any, tmp_path: Path, sample_video: bytes
) -> None:
    path = tmp_path / "over 3 - a single.mp4"
    path.write_bytes(sample_video)
    traffic = Traffic(page)
    console = Console(page)
    log_in(page)
    upload(page, path)

    # No worker runs here: the page tells the server the form POST finished, and the server queues the job.
    item = page.locator("#jobs li.job")
    expect(item).to_have_attribute("data-status", "queued")
    expect(item.locator(".status")).to_have_text("Queued")
    assert [call.split("?")[0] for call in traffic.uppy_calls()] == [
        "GET /s3/params",
        "POST /s3/params/complete",
    ]
    assert traffic.part_puts() == []
    job = the_job(coach)
    assert (job.status, job.object_size) == (Status.QUEUED, len(sample_video))
    stored = storage.client().get_object(Bucket=job.s3_bucket, Key=job.s3_key)["Body"].read()
    assert stored == sample_video

    # Cancelling asks first; "No" leaves the job be.
    item.get_by_role("button", name="Cancel").click()
    expect(item.locator(".confirm")).to_have_text(f"Cancel the upload of {path.name}?Yes, cancelNo")
    item.get_by_role("button", name="No").click()
    expect(item.locator(".confirm")).to_have_count(0)
    assert the_job(coach).status == Status.QUEUED
    # The page's own API call: a POST with the CSRF cookie's token, under session authentication.
    item.get_by_role("button", name="Cancel").click()
    item.get_by_role("button", name="Yes, cancel").click()
    expect(item).to_have_attribute("data-status", "cancelled")
    assert the_job(coach).status == Status.CANCELLED

    # A final job can be deleted from the page, after a question too: its row and its job go.
    item.get_by_role("button", name="Delete").click()
    item.get_by_role("button", name="Yes, delete").click()
    expect(item).to_have_count(0)
    expect(page.locator("#jobs-empty")).to_be_visible()
    assert not VideoAnalysisJob.objects.filter(owner=coach).exists()
    # No error on the way (the favicon is there): SeaweedFS exposes the form POST's ETag as the bucket's
    # rule says (bucket_setup.browser_upload_cors_rule), as S3 does (moto's server did not).
    assert console.errors == []


@pytest.fixture
def german_page(browser: Browser, live_server: Any) -> Iterator[Page]:
    """A browser whose user reads German dates, in Berlin."""
    context = browser.new_context(
        base_url=live_server.url,
        locale="de-DE",
        timezone_id="Europe/Berlin",
        viewport={"width": 1200, "height": 900},
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.mark.any_database
def test_the_list_shows_what_each_job_came_to_and_a_failed_one_goes_up_again(
    german_page: Page,
    coach: Any,
    tmp_path: Path,
    sample_video: bytes,
    make_worker: Callable[..., Worker],
) -> None:
    page = german_page
    done = analysed_job(coach, sample_video, make_worker())
    failed = make_job(
        coach,
        Status.FAILED,
        filename="over 9.mp4",
        error_code="upload_expired",
        error_message="The upload was not finished in time: start a new upload.",
        age=timedelta(minutes=5),
    )
    log_in(page)
    done_row = page.locator(f"#jobs li.job[data-job-id='{done.pk}']")
    failed_row = page.locator(f"#jobs li.job[data-job-id='{failed.pk}']")

    # A done job: its poster as a thumbnail, its duration and segments; a failed one: why.
    thumb = done_row.locator("img.thumb")
    thumb.evaluate("img => img.decode()")
    assert thumb.evaluate("img => img.naturalWidth") == done.result["poster"]["width"]
    expect(done_row.locator(".facts")).to_have_text("23 KB · 00:10 · 1 high-activity segment")
    expect(failed_row.locator(".reason")).to_have_text(failed.error_message)
    # The rows stand apart: a gap between them.
    first, second = (row.bounding_box() for row in (done_row, failed_row))
    assert first
    assert second
    assert second["y"] - (first["y"] + first["height"]) >= 8

    # Dates in the reader's locale and time zone, one format on the list and on the job's page.
    shown = done_row.locator("time").inner_text()
    assert re.fullmatch(r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}", shown), shown
    done_row.locator("a.filename").click()
    expect(page.locator("#job .meta time")).to_have_text(shown)
    page.go_back()

    # Uppy refuses a file that is not a video: the page says which, and nothing covers the files.
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    page.locator(FILE_INPUT).set_input_files(str(notes))
    expect(page.locator("#upload-refused")).to_have_text(
        "notes.txt was not added: it is not a video (MP4, MOV, MKV, WebM or AVI)."
    )
    expect(page.locator(".uppy-Informer")).to_have_count(0)

    # The failed one goes up again: a new job, then the failed one is deleted.
    again = tmp_path / "over 9.mp4"
    again.write_bytes(sample_video)
    with page.expect_file_chooser() as chooser:
        failed_row.get_by_role("button", name="Upload again").click()
    chooser.value.set_files(str(again))
    expect(failed_row).to_have_count(0)
    fresh = page.locator("#jobs li.job").filter(has_text="over 9.mp4")
    expect(fresh).to_have_attribute("data-status", "queued")
    assert not VideoAnalysisJob.objects.filter(pk=failed.pk).exists()
    assert VideoAnalysisJob.objects.get(owner=coach, filename="over 9.mp4").status == Status.QUEUED
