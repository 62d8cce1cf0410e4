"""Motion activity: a small grey thumbnail sampled a few times a second, the change between consecutive
samples, a bounded timeline of it, and the segments of high activity (deliveries, shots, runs).

Bounded for every input: times are relative to the first frame, a timestamp that goes back or leaps
forward over a gap makes no sample, the timeline's buckets are sized from the time span (at most
MAX_TIMELINE_POINTS of them), and at most MAX_SEGMENTS segments are kept.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from numpy.typing import NDArray

# Four thumbnails a second catch a delivery or a shot (each lasts a second or more) while costing almost
# nothing next to decoding; 64 pixels wide is enough to see a player move.
SAMPLE_INTERVAL = 0.25
THUMBNAIL_WIDTH = 64
# Two samples further apart than this straddle a gap (a paused recording, a timestamp that leapt): the
# change across it is not motion, so it makes no sample.
MAX_SAMPLE_GAP = 5.0
# The stored timeline is bucketed (max per bucket) to at most this many points, whatever the video.
MAX_TIMELINE_POINTS = 600
# The strongest this many segments are kept (a six-hour video may have thousands), so that the result
# stays well under MAX_RESULT_BYTES; ``segment_count`` says how many there were.
MAX_SEGMENTS = 500
# A sample is "high activity" above median + ACTIVITY_MADS robust standard deviations of the whole video,
# and at least MIN_ACTIVITY_DELTA grey levels above the median (a still video must not turn flicker into
# segments). Segments closer than MERGE_GAP are one; shorter than MIN_SEGMENT are noise.
ACTIVITY_MADS = 4.0
MIN_ACTIVITY_DELTA = 2.0
MERGE_GAP = 0.5
MIN_SEGMENT = 0.5


class MotionSamples:
    """The samples: each the mean absolute change (grey levels, 0-255) from ``start`` to ``end`` seconds.
    Eight bytes and a float per sample: a six-hour video holds well under a megabyte."""

    def __init__(self) -> None:
        self.starts = array("d")
        self.ends = array("d")
        self.values = array("f")

    def add(self, start: float, end: float, value: float) -> None:
        self.starts.append(start)
        self.ends.append(end)
        self.values.append(value)

    def summary(self) -> dict[str, Any]:
        values = np.frombuffer(self.values, dtype=np.float32) if self.values else np.zeros(0, np.float32)
        if values.size == 0:
            return {
                "sample_interval_seconds": SAMPLE_INTERVAL,
                "timeline_interval_seconds": SAMPLE_INTERVAL,
                "timeline": [],
                "median": 0.0,
                "threshold": None,
                "segment_count": 0,
                "segments": [],
            }
        starts = np.frombuffer(self.starts, dtype=np.float64)
        ends = np.frombuffer(self.ends, dtype=np.float64)
        median = float(np.median(values))
        mad = float(np.median(np.abs(values - median))) * 1.4826
        threshold = max(median + ACTIVITY_MADS * mad, median + MIN_ACTIVITY_DELTA)
        span = float(ends[-1])
        bucket = SAMPLE_INTERVAL * max(1, math.ceil(span / (SAMPLE_INTERVAL * MAX_TIMELINE_POINTS)))
        segments = _segments(starts, ends, values, threshold)
        return {
            "sample_interval_seconds": SAMPLE_INTERVAL,
            "timeline_interval_seconds": bucket,
            "timeline": _timeline(starts, ends, values, bucket, span),
            "median": round(median, 2),
            "threshold": round(threshold, 2),
            "segment_count": len(segments),
            "segments": _strongest(segments),
        }


def _timeline(
    starts: NDArray[Any], ends: NDArray[Any], values: NDArray[Any], bucket: float, span: float
) -> list[float | None]:
    """The maximum change in each bucket of ``bucket`` seconds. A sample counts in every bucket its interval
    touches, so sparse frames (a 2 fps video) leave no bucket empty; a bucket that no sample touches lies
    in a gap of the video and is None: nothing was measured there."""
    count = min(MAX_TIMELINE_POINTS, math.floor(span / bucket) + 1)
    first = np.minimum(np.floor(starts / bucket).astype(np.int64), count - 1)
    last = np.minimum(np.floor(ends / bucket).astype(np.int64), count - 1)
    # Spread each sample over its buckets: index first, first+1, ..., last (a sample spans at most
    # MAX_SAMPLE_GAP, so at most a few buckets).
    lengths = last - first + 1
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    timeline = np.full(count, np.nan, dtype=np.float32)
    np.fmax.at(timeline, np.repeat(first, lengths) + offsets, np.repeat(values, lengths))
    return [None if math.isnan(value) else round(value, 2) for value in timeline.tolist()]


def _segments(
    starts: NDArray[Any], ends: NDArray[Any], values: NDArray[Any], threshold: float
) -> list[dict[str, float]]:
    # Runs of samples above the threshold, as [first, last] indices, merged across short dips (never across
    # a gap: the next sample then starts long after the run's end).
    runs: list[list[int]] = []
    for index in np.flatnonzero(values > threshold).tolist():
        if runs and starts[index] - ends[runs[-1][1]] <= MERGE_GAP:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    segments = []
    for first, last in runs:
        start, end = float(starts[first]), float(ends[last])
        if end - start < MIN_SEGMENT:
            continue
        span = values[first : last + 1]
        segments.append(
            {
                "start_seconds": round(start, 2),
                "end_seconds": round(end, 2),
                "peak": round(float(span.max()), 2),
                "mean": round(float(span.mean()), 2),
            }
        )
    return segments


def _strongest(segments: list[dict[str, float]]) -> list[dict[str, float]]:
    """At most MAX_SEGMENTS segments, the highest peaks, in time order."""
    if len(segments) <= MAX_SEGMENTS:
        return segments
    kept = sorted(segments, key=lambda segment: segment["peak"], reverse=True)[:MAX_SEGMENTS]
    return sorted(kept, key=lambda segment: segment["start_seconds"])


class MotionSampler:
    """Streaming: one thumbnail kept, one sample per SAMPLE_INTERVAL of video.

    Times are seconds from the first frame. The next sample is due on a fixed grid, or at the next frame
    when the video has fewer frames than samples; a frame at or before the last sample is skipped.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width = THUMBNAIL_WIDTH if width >= THUMBNAIL_WIDTH else width
        self.height = max(2, round(height * self.width / width / 2) * 2)
        self.samples = MotionSamples()
        self.next_sample = 0.0
        self._previous: NDArray[Any] | None = None
        self._previous_time = 0.0
        # One reformatter reused for every sample: a new one per frame costs more than the decode.
        self._reformatter = VideoReformatter()

    def wants(self, time: float) -> bool:
        return time >= self.next_sample and (self._previous is None or time > self._previous_time)

    def add(self, time: float, frame: av.VideoFrame) -> None:
        self.next_sample = max(self.next_sample + SAMPLE_INTERVAL, time + SAMPLE_INTERVAL / 2)
        thumb = self._reformatter.reformat(frame, width=self.width, height=self.height, format="gray")
        pixels = thumb.to_ndarray().astype(np.int16)
        if self._previous is not None and time - self._previous_time <= MAX_SAMPLE_GAP:
            self.samples.add(self._previous_time, time, float(np.abs(pixels - self._previous).mean()))
        self._previous, self._previous_time = pixels, time
