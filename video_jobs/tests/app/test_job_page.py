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

from video_jobs.devtools.synthetic_video import astronaut, write_person_video, write_test_video
from video_jobs.models import VideoAnalysisJob
from video_jobs.worker.loop import Worker

from ..support.coach_page import (
    PASSWORD,
    Console,
    analysed_job,
    check_x_labels_apart,
    legend,
    log_in,
    y_top_label,
)

# The page in a browser: the rows behind it come through API routes proven on both databases.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("browser_uploads"),
    pytest.mark.any_database,
]

# How many pixels of the skeleton canvas are painted, and the time of the frame drawn.
_PAINTED = """canvas => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data
  let painted = 0
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1
  return { painted, frame: canvas.dataset.frameTime }
}"""
_CURSOR = "canvas => window.CricksyChart.getChart(canvas).$cursorTime"
# Whether the canvas is painted where the drawn frame's nose (landmark 0) is, as player.js places it.
_NOSE_PAINTED = """canvas => {
  const video = document.querySelector('#job-watch video')
  const track = window.Cricksy.poseTrack
  const frame = track.frames.find((f) => String(f.t) === canvas.dataset.frameTime)
  const [x, y] = frame.points[0]
  const scale = Math.min(video.clientWidth / video.videoWidth, video.clientHeight / video.videoHeight)
  const left = (video.clientWidth - video.videoWidth * scale) / 2
  const top = (video.clientHeight - video.videoHeight * scale) / 2
  const ratio = window.devicePixelRatio || 1
  const px = Math.round((left + x * video.videoWidth * scale) * ratio)
  const py = Math.round((top + y * video.videoHeight * scale) * ratio)
  return canvas.getContext('2d').getImageData(px, py, 1, 1).data[3] > 0
}"""


@pytest.fixture
def coach(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("coach", password=PASSWORD)


@pytest.fixture
def analysed(coach: Any, make_worker: Callable[..., Worker]) -> Callable[[bytes], VideoAnalysisJob]:
    """A job of the coach's analysed by the default analyzer (motion, poster and pose)."""
    return lambda data: analysed_job(coach, data, make_worker(), pose=True)


@pytest.fixture(scope="module")
def person_video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real person (scikit-image's astronaut) crossing a field for four seconds."""
    path = tmp_path_factory.mktemp("person") / "over 12 - run-up.mp4"
    return write_person_video(path, astronaut(), seconds=4, width=320, height=180, fps=10).read_bytes()


def seconds(page: Page) -> float:
    return float(page.locator("#job-watch video").evaluate("video => video.currentTime"))


def skeleton(page: Page) -> dict[str, Any]:
    painted: dict[str, Any] = page.locator("#job-watch canvas[data-skeleton]").evaluate(_PAINTED)
    return painted


def seek_on_chart(page: Page, canvas: str, time: float) -> None:
    chart = page.locator(canvas)
    x = chart.evaluate(f"canvas => window.CricksyChart.getChart(canvas).scales.x.getPixelForValue({time})")
    y = chart.evaluate("canvas => window.CricksyChart.getChart(canvas).chartArea.top + 5")
    chart.click(position={"x": x, "y": y})


def test_the_job_page_plays_the_video_with_the_skeleton_and_seeks(
    page: Page, analysed: Callable[[bytes], VideoAnalysisJob], person_video: bytes
) -> None:
    job = analysed(person_video)
    pose = job.result["pose"]
    assert pose["person_frames"] >= 0.8 * pose["sampled_frames"]
    console = Console(page)
    log_in(page, f"/app/jobs/{job.pk}/")
    video = page.locator("#job-watch video")
    expect(page.locator("#job-watch")).to_have_attribute("data-track", "loaded")
    page.wait_for_function("() => document.querySelector('#job-watch video').readyState >= 2")
    # The video came through the artifacts endpoint, whose presigned URL the browser followed.
    assert video.evaluate("video => video.currentSrc").endswith(f"/api/video-jobs/{job.pk}/artifacts/source")
    assert video.evaluate("video => video.duration") == pytest.approx(4, abs=0.2)

    # Clicking the tilt chart seeks to the time under the pointer (the astronaut's portrait shows her
    # shoulders and hips, not her elbows and knees: tilts are what the analysis measures here). The skeleton
    # is drawn for the track's frame nearest it, the nose where the track puts it, and every chart's cursor
    # is there.
    seek_on_chart(page, "#job-angles [data-angles-tilts]", 2.0)
    page.wait_for_function("() => Math.abs(document.querySelector('#job-watch video').currentTime - 2) < 0.2")
    expect(page.locator("#job-watch canvas[data-skeleton]")).not_to_have_attribute("data-frame-time", "")
    drawn = skeleton(page)
    assert drawn["painted"] > 200
    assert float(drawn["frame"]) == pytest.approx(seconds(page), abs=0.6 / pose["sample_fps"])
    assert page.locator("#job-watch canvas").evaluate(_NOSE_PAINTED)
    for canvas in ("#job-angles [data-angles-tilts]", "#job-analysis [data-chart]"):
        assert page.locator(canvas).evaluate(_CURSOR) == pytest.approx(seconds(page), abs=0.05)

    # The skeleton can be hidden and shown again.
    page.get_by_label("Show the skeleton").uncheck()
    assert skeleton(page)["painted"] == 0
    page.get_by_label("Show the skeleton").check()
    assert skeleton(page)["painted"] > 200

    # Playing, the skeleton follows: the frame drawn is the one of the moment shown.
    video.evaluate("video => { video.currentTime = 0.5; video.muted = true; return video.play() }")
    page.wait_for_function("() => document.querySelector('#job-watch video').currentTime > 1.2")
    video.evaluate("video => video.pause()")
    page.wait_for_function(
        """tolerance => { const v = document.querySelector('#job-watch video')
                   const drawn = document.querySelector('#job-watch canvas').dataset.frameTime
                   return drawn !== '' && Math.abs(Number(drawn) - v.currentTime) <= tolerance }""",
        arg=0.6 / pose["sample_fps"],
    )

    # Wide or on a phone, the charts' time labels keep apart, each a time of its own. On a phone the bar
    # stays one line too, the top tick is a round number, and the threshold's swatch in the legend is a
    # dashed line.
    for canvas in ("#job-analysis [data-chart]", "#job-angles [data-angles-tilts]"):
        check_x_labels_apart(page, canvas)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("() => document.querySelector('#job-analysis [data-chart]').clientWidth < 380")
    bar = page.locator(".topbar")
    assert bar.evaluate("bar => bar.getBoundingClientRect().height") < 56
    for canvas in ("#job-analysis [data-chart]", "#job-angles [data-angles-tilts]"):
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
    # MPEG-4 Part 2 in an AVI: PyAV decodes it, Chromium does not. Nobody is in it.
    avi = write_test_video(tmp_path / "nets.avi", seconds=6, width=160, height=90, fps=10).read_bytes()
    job = analysed(avi)
    log_in(page, f"/app/jobs/{job.pk}/")
    note = page.locator("#job-watch [data-unplayable]")
    expect(note).to_contain_text("This browser cannot play its MPEG4 video")
    expect(page.locator("#job-watch [data-player]")).to_be_hidden()
    # No skeleton to show (nobody was found): the poster, and the pose says so.
    still = page.locator("#job-watch [data-still] img")
    expect(still).to_be_visible()
    still.evaluate("img => img.decode()")
    assert still.evaluate("img => img.currentSrc").endswith(f"/api/video-jobs/{job.pk}/artifacts/poster.jpg")
    expect(page.locator("#job-watch [data-pose-summary]")).to_have_text(
        "Nobody was found in the video: there is no skeleton to draw."
    )
    expect(page.locator("#job-angles")).to_be_hidden()
    # The charts still follow a clicked segment, with no video to move.
    [segment] = job.result["motion"]["segments"]
    page.locator("#job-analysis [data-segments] button").first.click()
    cursor = page.locator("#job-analysis [data-chart]").evaluate(_CURSOR)
    assert cursor == pytest.approx(segment["start_seconds"])
