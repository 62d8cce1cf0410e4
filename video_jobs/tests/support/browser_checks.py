"""What the browser tests check of a drawn analysis (templates/video_jobs/app/_analysis.html), on the
coaches' job page and on the admin's: the poster really loaded, and the chart and the list show the
result's segments."""

from __future__ import annotations

import math
from typing import Any

from playwright.sync_api import Page, expect

# Read back from Chart.js itself: what the chart was given to draw.
_CHART_DATA = """root => {
  const chart = window.CricksyChart.getChart(root.querySelector('[data-chart]'))
  const named = (label) => chart.data.datasets.find((d) => d.label === label)
  const boxes = named('High activity').data.filter((p) => p.y !== null).map((p) => p.x)
  const pairs = []
  for (let i = 0; i < boxes.length; i += 2) pairs.push([boxes[i], boxes[i + 1]])
  return { segments: pairs, motion: named('Motion').data.length, drawn: chart.chartArea.width > 0 }
}"""


def clock(seconds: int) -> str:
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def span(start: float, end: float) -> str:
    """A segment as the page writes it: whole seconds, at least one."""
    first = math.floor(start)
    return f"{clock(first)}\N{EN DASH}{clock(max(first + 1, round_half_up(end)))}"


def round_half_up(value: float) -> int:
    return math.floor(value + 0.5)  # JavaScript's Math.round (Python's round() rounds half to even)


def check_analysis_drawn(page: Page, selector: str, result: Any) -> None:
    root = page.locator(selector)
    expect(root).to_be_visible()
    poster = root.locator("img[data-poster]")
    expect(poster).to_be_visible()
    poster.evaluate("img => img.decode()")  # resolves once the image is loaded and decodable
    assert poster.evaluate("img => img.naturalWidth") == result["poster"]["width"]

    segments = result["motion"]["segments"]
    assert segments, "the test video has bursts of motion: the analysis must find some"
    drawn = root.evaluate(_CHART_DATA)
    assert drawn["drawn"]
    assert drawn["segments"] == [[s["start_seconds"], s["end_seconds"]] for s in segments]
    assert drawn["motion"] == len(result["motion"]["timeline"])
    times = "\N{MULTIPLICATION SIGN}"
    expected = [span(s["start_seconds"], s["end_seconds"]) for s in segments]
    expect(root.locator("[data-segments] li")).to_have_text(expected)
    video = result["video"]
    expect(root.locator("[data-facts]")).to_contain_text(f"{video['width']} {times} {video['height']}")
    expect(root.locator("[data-facts]")).to_contain_text(video["codec"])
