"""A done job's page in a real browser (Debian's chromium, Playwright, on the live server): the video plays
through the artifacts endpoint with the pose skeleton drawn over it in step with playback, the charts'
cursors follow it and clicking them (or a segment) seeks it; a video the browser cannot play leaves the
still with the skeleton, the charts and a line saying why; on a phone the charts' labels keep apart."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from video_jobs.devtools.synthetic_video import write_test_video
from video_jobs.models import VideoAnalysisJob
from video_jobs.worker import Worker

from ..support.coach_page import PASSWORD, Console, check_x_labels_apart, legend, log_in, y_top_label
from ..support.pose_contract import add_pose

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("browser_uploads")]

# How many pixels of the skeleton canvas are painted, and the time of the frame drawn.
_PAINTED = """canvas => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data
  let painted = 0
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1
  return { painted, frame: canvas.dataset.frameTime }
}"""
_CURSOR = "canvas => window.CricksyChart.getChart(canvas).$cursorTime"


@pytest.fixture
def coach(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("coach", password=PASSWORD)


@pytest.fixture
def analysed(
    coach: Any, queue_job: Callable[..., VideoAnalysisJob], make_worker: Callable[..., Worker]
) -> Callable[[bytes], VideoAnalysisJob]:
    """A job of the coach's analysed by the default analyzer, with its pose."""

    def analyse(data: bytes) -> VideoAnalysisJob:
        job = queue_job(data, owner=coach)
        assert make_worker().run_once() is True
        job = VideoAnalysisJob.objects.get(pk=job.pk)
        assert job.status == VideoAnalysisJob.Status.DONE, job.error_message
        return add_pose(job)

    return analyse


def seconds(page: Page) -> float:
    return float(page.locator("#job-watch video").evaluate("video => video.currentTime"))


def skeleton(page: Page) -> dict[str, Any]:
    painted: dict[str, Any] = page.locator("#job-watch canvas[data-skeleton]").evaluate(_PAINTED)
    return painted


def test_the_job_page_plays_the_video_with_the_skeleton_and_seeks(
    page: Page, analysed: Callable[[bytes], VideoAnalysisJob], sample_video: bytes
) -> None:
    job = analysed(sample_video)
    console = Console(page)
    log_in(page, f"/app/jobs/{job.pk}/")
    video = page.locator("#job-watch video")
    expect(page.locator("#job-watch")).to_have_attribute("data-track", "loaded")
    page.wait_for_function("() => document.querySelector('#job-watch video').readyState >= 2")
    assert video.evaluate("video => video.duration") == pytest.approx(10, abs=0.2)

    # Before the burst nobody is in the frame: nothing drawn.
    assert skeleton(page)["painted"] == 0

    # A segment's time seeks the video to the burst, where the skeleton is drawn for the frame nearest it.
    [segment] = job.result["motion"]["segments"]
    page.locator("#job-analysis [data-segments] button").first.click()
    page.wait_for_function(
        "start => Math.abs(document.querySelector('#job-watch video').currentTime - start) < 0.05",
        arg=segment["start_seconds"],
    )
    expect(page.locator("#job-watch canvas[data-skeleton]")).not_to_have_attribute("data-frame-time", "")
    drawn = skeleton(page)
    assert drawn["painted"] > 200
    assert float(drawn["frame"]) == pytest.approx(seconds(page), abs=0.051)
    for canvas in ("#job-angles [data-angles-joints]", "#job-analysis [data-chart]"):
        assert page.locator(canvas).evaluate(_CURSOR) == pytest.approx(seconds(page), abs=0.05)

    # Clicking the joints chart seeks to the time under the pointer (4.5 s, in the burst).
    chart = page.locator("#job-angles [data-angles-joints]")
    x = chart.evaluate("canvas => window.CricksyChart.getChart(canvas).scales.x.getPixelForValue(4.5)")
    y = chart.evaluate("canvas => window.CricksyChart.getChart(canvas).chartArea.top + 5")
    chart.click(position={"x": x, "y": y})
    page.wait_for_function(
        "() => Math.abs(document.querySelector('#job-watch video').currentTime - 4.5) < 0.2"
    )
    expect(page.locator("#job-watch canvas[data-skeleton]")).to_have_attribute(
        "data-frame-time", re.compile(r"^4\.[3-7]")
    )

    # Playing, the skeleton follows: the frame drawn is the one of the moment shown.
    video.evaluate("video => { video.currentTime = 3.0; video.muted = true; return video.play() }")
    page.wait_for_function("() => document.querySelector('#job-watch video').currentTime > 3.6")
    video.evaluate("video => video.pause()")
    page.wait_for_function(
        """() => { const v = document.querySelector('#job-watch video')
                   const drawn = document.querySelector('#job-watch canvas').dataset.frameTime
                   return drawn !== '' && Math.abs(Number(drawn) - v.currentTime) <= 0.076 }"""
    )
    # The video came through the artifacts endpoint, whose presigned URL the browser followed.
    assert video.evaluate("video => video.currentSrc").endswith(f"/api/video-jobs/{job.pk}/artifacts/source")

    # On a phone: the bar stays one line, the charts' time labels keep apart, the top tick is a round
    # number, and the threshold's swatch in the legend is a dashed line.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("() => document.querySelector('#job-analysis [data-chart]').clientWidth < 380")
    bar = page.locator(".topbar")
    assert bar.evaluate("bar => bar.getBoundingClientRect().height") < 56
    for canvas in ("#job-analysis [data-chart]", "#job-angles [data-angles-joints]"):
        check_x_labels_apart(page, canvas)
    assert re.fullmatch(r"\d+([.,]\d{1,2})?", y_top_label(page, "#job-analysis [data-chart]"))
    threshold = next(
        item for item in legend(page, "#job-analysis [data-chart]") if item["text"] == "Threshold"
    )
    assert threshold["pointStyle"] == "line"
    assert threshold["lineDash"]
    assert console.errors == []


def test_a_video_the_browser_cannot_play_shows_the_still_the_charts_and_why(
    page: Page, analysed: Callable[[bytes], VideoAnalysisJob], tmp_path: Path
) -> None:
    # MPEG-4 Part 2 in an AVI: PyAV decodes it, Chromium does not.
    avi = write_test_video(tmp_path / "nets.avi", seconds=6, width=160, height=90, fps=10).read_bytes()
    job = analysed(avi)
    log_in(page, f"/app/jobs/{job.pk}/")
    note = page.locator("#job-watch [data-unplayable]")
    expect(note).to_contain_text("This browser cannot play its MPEG4 video")
    expect(page.locator("#job-watch [data-player]")).to_be_hidden()
    still = page.locator("#job-watch [data-still] img")
    expect(still).to_be_visible()
    still.evaluate("img => img.decode()")
    assert still.evaluate("img => img.currentSrc").endswith(f"/api/video-jobs/{job.pk}/artifacts/pose.jpg")
    expect(page.locator("#job-angles [data-angles-joints]")).to_be_visible()
    # The charts still seek: the cursor moves to a clicked segment even with no video to move.
    [segment] = job.result["motion"]["segments"]
    page.locator("#job-analysis [data-segments] button").first.click()
    cursor = page.locator("#job-angles [data-angles-joints]").evaluate(_CURSOR)
    assert cursor == pytest.approx(segment["start_seconds"])
