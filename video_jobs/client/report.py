"""A job in a few lines for a person: what was found when it is done (the video, the segments of activity
as times, the artifacts as links to fetch), why it ended when it failed, what to do next otherwise."""

from __future__ import annotations

from typing import Any

# More segments than this are summed up, not listed.
SEGMENTS_LISTED = 10


def summary(job: dict[str, Any]) -> str:
    head = f"job {job['id']}: {job['status']}"
    if job["status"] in ("failed", "cancelled"):
        reason = job.get("error_message") or ""
        code = job.get("error_code")
        return f"{head}" + (f" ({code})" if code else "") + (f"\n  {reason}" if reason else "")
    if job["status"] != "done":
        return f"{head} ({job.get('stage', '')}); follow it with: cricksy-upload status {job['id']} --wait"
    result = job.get("result") or {}
    lines = [head]
    video = result.get("video") or {}
    if video:
        fps = f", {video['fps']:g} fps" if video.get("fps") else ""
        lines.append(
            f"  video     {video.get('duration_seconds', 0):.1f} s, "
            f"{video.get('width')}x{video.get('height')}{fps}"
        )
    segments = (result.get("motion") or {}).get("segments") or []
    lines.append(f"  activity  {_segments(segments)}")
    for artifact in job.get("artifacts") or []:
        lines.append(f"  {artifact['name']:<9} {artifact['url']}")
    return "\n".join(lines)


def _segments(segments: list[dict[str, float]]) -> str:
    if not segments:
        return "no segment of high activity"
    times = ", ".join(
        f"{_clock(segment['start_seconds'])}-{_clock(segment['end_seconds'])}"
        for segment in segments[:SEGMENTS_LISTED]
    )
    more = f" and {len(segments) - SEGMENTS_LISTED} more" if len(segments) > SEGMENTS_LISTED else ""
    return f"{len(segments)} segment(s): {times}{more}"


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"
