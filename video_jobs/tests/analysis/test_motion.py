"""The motion timeline and segments stay small and honest for any timestamps: gaps, leaps, timestamps that
go back, and the busiest six hours a video may last."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

from video_jobs.analysis import MAX_RESULT_BYTES, analyze_video
from video_jobs.analysis.motion import MAX_SEGMENTS, MAX_TIMELINE_POINTS, SAMPLE_INTERVAL, MotionSamples

from ..support.hostile_videos import backwards_matroska, timestamp_gap_matroska


def steady(seconds: float, *, start: float = 0.0) -> list[float]:
    """Sample times every SAMPLE_INTERVAL over ``seconds``."""
    return [start + n * SAMPLE_INTERVAL for n in range(round(seconds / SAMPLE_INTERVAL) + 1)]


def test_the_timeline_has_at_most_600_points_however_long_the_video() -> None:
    samples = MotionSamples()
    times = steady(6 * 3600)
    for start, end in itertools.pairwise(times):
        samples.add(start, end, 1.0)

    motion = samples.summary()

    assert len(motion["timeline"]) == MAX_TIMELINE_POINTS
    assert motion["timeline_interval_seconds"] == 36.0  # six hours in 600 buckets
    assert None not in motion["timeline"]


def test_the_busiest_six_hours_still_make_a_result_under_64_kib() -> None:
    # A burst every three seconds for six hours: more segments than any result should carry.
    samples = MotionSamples()
    times = steady(6 * 3600)
    for index, (start, end) in enumerate(itertools.pairwise(times)):
        samples.add(start, end, 200.0 + index % 50 if index % 12 < 3 else 1.0)

    motion = samples.summary()

    assert motion["segment_count"] > 10 * MAX_SEGMENTS
    assert len(motion["segments"]) == MAX_SEGMENTS
    starts = [segment["start_seconds"] for segment in motion["segments"]]
    assert starts == sorted(starts)
    assert min(segment["peak"] for segment in motion["segments"]) >= 240  # the strongest ones are kept
    assert len(json.dumps({"motion": motion})) < MAX_RESULT_BYTES


def test_a_gap_makes_no_points_and_no_segment_across_it() -> None:
    samples = MotionSamples()
    for times in (steady(60), steady(60, start=3600)):
        for start, end in itertools.pairwise(times):
            samples.add(start, end, 50.0 if end > times[-1] - 2 or end < times[0] + 2 else 1.0)

    motion = samples.summary()

    timeline = motion["timeline"]
    bucket = motion["timeline_interval_seconds"]
    assert len(timeline) == math.floor(3660 / bucket) + 1 <= MAX_TIMELINE_POINTS
    # The two minutes that have frames have points; the hour between them has none.
    unmeasured = [index for index, value in enumerate(timeline) if value is None]
    assert unmeasured == list(range(math.floor(60 / bucket) + 1, math.floor(3600 / bucket)))
    # The bursts at the gap's two edges stay two segments (with those at the clips' far ends).
    assert [(segment["start_seconds"], segment["end_seconds"]) for segment in motion["segments"]] == [
        (0.0, 1.75),
        (58.0, 60.0),
        (3600.0, 3601.75),
        (3658.0, 3660.0),
    ]


def test_a_video_with_a_leap_in_its_timestamps_keeps_a_small_timeline(tmp_path: Path) -> None:
    # Two seconds of frames, an hour's leap, two more seconds: no duration in the header to warn.
    times = [n / 25 for n in range(50)] + [3600 + n / 25 for n in range(50)]
    path = timestamp_gap_matroska(tmp_path / "leap.mkv", times=times, declare_duration=False)

    result = analyze_video(path).result

    timeline = result["motion"]["timeline"]
    assert len(timeline) <= MAX_TIMELINE_POINTS
    assert sum(value is not None for value in timeline) <= 4
    assert result["video"]["frames"] == 100
    assert len(json.dumps(result)) < 4096


def test_timestamps_that_go_back_make_no_samples(tmp_path: Path) -> None:
    # Frames shown at 0.2 s and 0.1 s arrive after the one at 0.4 s: they add nothing to the motion.
    jumbled = backwards_matroska(tmp_path / "jumbled.mkv", times=[0, 0.4, 0.2, 0.6, 0.1, 0.8, 1.2])
    ordered = backwards_matroska(tmp_path / "ordered.mkv", times=[0, 0.4, 0.6, 0.8, 1.2])

    motion = analyze_video(jumbled).result["motion"]

    assert motion == analyze_video(ordered).result["motion"]
    assert len(motion["timeline"]) == 5
