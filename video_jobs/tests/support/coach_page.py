"""What the coaches' page's browser tests share: a done job of the coach's, logging in, what the console said,
and reading back what a Chart.js chart drew (its axis labels, its legend)."""

from __future__ import annotations

import itertools
from typing import Any

from django.test import override_settings
from playwright.sync_api import ConsoleMessage, Page, expect

from video_jobs import services
from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage
from video_jobs.worker.loop import Worker

from .jobs import make_job

PASSWORD = "coach-password-4-tests"


def analysed_job(owner: Any, data: bytes, worker: Worker, *, pose: bool = False) -> VideoAnalysisJob:
    """A job of ``owner``'s taken the real way to ``done``: its bytes put in the configured store,
    upload-complete, and ``worker`` (in this process) running the default analysis, with the pose if asked
    (the suite turns it off where a test does not look at it: pytest.ini)."""
    job = make_job(owner, filename="over 12.mp4", size_bytes=len(data))
    storage.client().put_object(Bucket=job.s3_bucket, Key=job.s3_key, Body=data, ContentType=job.content_type)
    assert services.complete_upload(job=job).outcome == services.Outcome.QUEUED
    with override_settings(VIDEO_JOBS_POSE_FPS=10 if pose else 0):
        assert worker.run_once() is True
    job = VideoAnalysisJob.objects.get(pk=job.pk)
    assert job.status == VideoAnalysisJob.Status.DONE, job.error_message
    return job


class Console:
    """What the page wrote to its console as errors, and the scripts' uncaught exceptions."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _message(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


def log_in(page: Page, next_path: str = "/app/") -> None:
    page.goto(next_path)
    expect(page).to_have_url(f"/app/login/?next={next_path}")
    page.fill("#id_username", "coach")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(next_path)
    # The URL changes before the page's scripts have run (window.Cricksy.uppy, say): wait for them too.
    page.wait_for_load_state("load")


# The x axis's labels as drawn: their text and the left and right edges of each, measured with the font the
# axis drew them in.
_X_LABELS = """canvas => {
  const chart = window.CricksyChart.getChart(canvas)
  const scale = chart.scales.x
  const ctx = chart.ctx
  return scale.getLabelItems().map((item) => {
    ctx.save()
    ctx.font = item.font.string
    const width = ctx.measureText(item.label).width
    ctx.restore()
    const x = item.options.translation[0]
    const align = item.options.textAlign
    const left = align === 'center' ? x - width / 2 : align === 'right' ? x - width : x
    return { text: item.label, left, right: left + width }
  })
}"""

_Y_TOP = """canvas => {
  const chart = window.CricksyChart.getChart(canvas)
  return chart.scales.y.getLabelItems().map((item) => item.label).at(-1)
}"""

_LEGEND = """canvas => window.CricksyChart.getChart(canvas).legend.legendItems.map((item) => ({
  text: item.text, pointStyle: item.pointStyle, lineDash: item.lineDash || [],
}))"""


def x_labels(page: Page, canvas: str) -> list[dict[str, Any]]:
    labels: list[dict[str, Any]] = page.locator(canvas).evaluate(_X_LABELS)
    return labels


def check_x_labels_apart(page: Page, canvas: str) -> None:
    labels = x_labels(page, canvas)
    assert len(labels) >= 2, labels
    assert len({label["text"] for label in labels}) == len(labels), f"a label twice: {labels}"
    for before, after in itertools.pairwise(labels):
        assert after["left"] - before["right"] >= 4, f"{before['text']} and {after['text']} touch: {labels}"


def y_top_label(page: Page, canvas: str) -> str:
    return str(page.locator(canvas).evaluate(_Y_TOP))


def legend(page: Page, canvas: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = page.locator(canvas).evaluate(_LEGEND)
    return items
