"""The player's pose on the admin's job page: ``pose.jpg`` (the skeleton at the moment of greatest activity)
and each angle timeline as a small SVG chart drawn on the server (no script: staff see it as the result
says, whatever the coaches' page does with it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from ..models import VideoAnalysisJob
from .analysis import artifact_url

# The charts' drawing box, in SVG units (the browser scales it to the page's width).
WIDTH, HEIGHT = 600, 90
# Fixed scales, so that two jobs' charts compare: joints 0-180 degrees, tilts -90 to 90.
_RANGES = {"tilt": (-90.0, 90.0), "joint": (0.0, 180.0)}


@dataclass(frozen=True)
class AngleChart:
    name: str
    label: str
    lines: list[str]  # SVG polyline points, one line per run of seen values
    low: float
    high: float
    seen_percent: int
    minimum: int | None
    maximum: int | None
    zero_y: float | None  # the horizontal line at 0 degrees (tilts)


def _numbers(pair: Any) -> tuple[float, float | None] | None:
    """One ``[seconds, degrees | null]`` pair, or None when the result holds something else."""
    if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int | float)):
        return None
    value = pair[1]
    return float(pair[0]), float(value) if isinstance(value, int | float) else None


def angle_chart(name: str, timeline: Any, duration: float) -> AngleChart:
    low, high = _RANGES["tilt" if name.endswith("_tilt") else "joint"]
    pairs = [found for found in map(_numbers, timeline if isinstance(timeline, list) else []) if found]
    span = max(duration, max((t for t, _ in pairs), default=0.0), 1e-9)
    lines: list[list[str]] = [[]]
    values = []
    for t, value in pairs:
        if value is None:
            if lines[-1]:
                lines.append([])
            continue
        values.append(value)
        x = t / span * WIDTH
        y = (high - min(high, max(low, value))) / (high - low) * HEIGHT
        lines[-1].append(f"{x:.1f},{y:.1f}")
    return AngleChart(
        name=name,
        label=name.replace("_", " "),
        # A lone point is drawn as a line to itself: SVG draws nothing for one point.
        lines=[" ".join(line if len(line) > 1 else line * 2) for line in lines if line],
        low=low,
        high=high,
        seen_percent=round(100 * len(values) / len(pairs)) if pairs else 0,
        minimum=round(min(values)) if values else None,
        maximum=round(max(values)) if values else None,
        zero_y=HEIGHT / 2 if low < 0 < high else None,
    )


def pose_html(job: VideoAnalysisJob) -> SafeString | str:
    """The pose's block, for a job whose result has one; "-" otherwise."""
    result = job.result if isinstance(job.result, dict) else {}
    pose = result.get("pose")
    if not isinstance(pose, dict):
        return "-"
    video = result.get("video")
    duration = video.get("duration_seconds") if isinstance(video, dict) else None
    duration = float(duration) if isinstance(duration, int | float) else 0.0
    angles = pose.get("angles")
    angles = angles if isinstance(angles, dict) else {}
    picture = pose.get("picture")
    picture = picture if isinstance(picture, dict) else None
    name = picture.get("artifact") if picture else None
    # The template escapes everything it shows; the SVG points are numbers formatted here.
    return mark_safe(
        render_to_string(
            "video_jobs/admin/_pose.html",
            {
                "pose": pose,
                "picture": picture,
                "picture_url": artifact_url(job, name) if isinstance(name, str) else "",
                "charts": [angle_chart(str(key), timeline, duration) for key, timeline in angles.items()],
                "width": WIDTH,
                "height": HEIGHT,
            },
        )
    )
