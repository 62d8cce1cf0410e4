"""Video analysis: the analyzer contract and the default PyAV analyzer.

An analyzer is any callable ``analyzer(path, *, job, progress) -> Analysis``, named by the dotted path in
``settings.VIDEO_JOBS_ANALYZER``. It gets the downloaded file, the job, and a progress callback taking the
fraction done (0.0-1.0). It raises InvalidVideo for a file that is not a decodable video (the job fails as
``invalid_video``, no retry); any other exception counts as transient and is retried. The progress callback
may raise JobInterrupted (the worker lost its lease or is shutting down): let it through.

The default, ``analyze_video``, makes one streaming pass over the video (one decoded frame in memory at a
time, whatever its length): it probes container, codec, duration, size, frame rate and frame count; samples
a small grey thumbnail a few times a second to build a motion-activity timeline (mean absolute difference
between consecutive samples) and the segments of high activity (deliveries, shots, runs); and renders a
poster frame from the middle of the video as a JPEG artifact.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

if TYPE_CHECKING:
    from .models import VideoAnalysisJob

ProgressCallback = Callable[[float], None]

# Motion sampling: four thumbnails a second catch a delivery or a shot (each lasts a second or more) while
# costing almost nothing next to decoding; 64 pixels wide is enough to see a player move.
SAMPLE_INTERVAL = 0.25
THUMBNAIL_WIDTH = 64
# The stored timeline is bucketed (max per bucket) to at most this many points, so the result stays small
# for a two-hour match.
MAX_TIMELINE_POINTS = 600
# A sample is "high activity" above median + ACTIVITY_MADS robust standard deviations of the whole video,
# and at least MIN_ACTIVITY_DELTA grey levels above the median (a still video must not turn flicker into
# segments). Segments closer than MERGE_GAP are one; shorter than MIN_SEGMENT are noise.
ACTIVITY_MADS = 4.0
MIN_ACTIVITY_DELTA = 2.0
MERGE_GAP = 0.5
MIN_SEGMENT = 0.5
POSTER_MAX_WIDTH = 640
POSTER_NAME = "poster.jpg"
# Frame threading pays off on large frames; on small ones its hand-offs cost more than they save.
FRAME_THREADS_MIN_PIXELS = 640 * 360

# FFmpeg errors that mean "this is not a video we can decode", as opposed to a fault of this machine.
_UNDECODABLE = (
    av.error.InvalidDataError,
    av.error.DecoderNotFoundError,
    av.error.DemuxerNotFoundError,
    av.error.PatchWelcomeError,
)


class InvalidVideo(Exception):
    """The file is not a decodable video: the job fails as ``invalid_video`` without a retry.

    Its message is the client's ``error_message``: say what is wrong with the file in the client's terms,
    never a path or an internal name; chain the underlying error (``raise ... from exc``), which staff see.
    """


class JobInterrupted(BaseException):
    """Raised by the progress callback when the worker must drop the job (lease lost, shutdown grace over).

    A BaseException, like KeyboardInterrupt, so that an analyzer's ``except Exception`` cannot swallow it.
    """


@dataclass(frozen=True)
class Artifact:
    """A file the worker stores beside the video, at ``videos/<job id>/<name>``."""

    name: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class Analysis:
    """What an analyzer returns: the JSON-serialisable result, and artifacts for the worker to store."""

    result: dict[str, Any]
    artifacts: tuple[Artifact, ...] = field(default=())


class Analyzer(Protocol):
    def __call__(self, path: Path, *, job: VideoAnalysisJob, progress: ProgressCallback) -> Analysis: ...


class _Motion:
    """Streaming motion activity: one thumbnail kept, one float per sample."""

    def __init__(self, width: int, height: int) -> None:
        self.width = THUMBNAIL_WIDTH if width >= THUMBNAIL_WIDTH else width
        self.height = max(2, round(height * self.width / width / 2) * 2)
        self.times = array("d")
        self.values = array("f")
        self.next_sample = 0.0
        self.first_time = 0.0
        self._previous: np.ndarray | None = None
        # One reformatter reused for every sample: a new one per frame costs more than the decode.
        self._reformatter = VideoReformatter()

    def add(self, time: float, frame: av.VideoFrame) -> None:
        # Next sample on the fixed grid, or at the next frame when the video has fewer frames than samples.
        self.next_sample = max(self.next_sample + SAMPLE_INTERVAL, time + SAMPLE_INTERVAL / 2)
        thumb = self._reformatter.reformat(frame, width=self.width, height=self.height, format="gray")
        pixels = thumb.to_ndarray().astype(np.int16)
        if self._previous is None:
            self.first_time = time
        else:
            self.times.append(time)
            self.values.append(float(np.abs(pixels - self._previous).mean()))
        self._previous = pixels

    def summary(self) -> dict[str, Any]:
        values = np.frombuffer(self.values, dtype=np.float32) if self.values else np.zeros(0, np.float32)
        if values.size == 0:
            return {
                "sample_interval_seconds": SAMPLE_INTERVAL,
                "timeline_interval_seconds": SAMPLE_INTERVAL,
                "timeline": [],
                "median": 0.0,
                "threshold": None,
                "segments": [],
            }
        median = float(np.median(values))
        mad = float(np.median(np.abs(values - median))) * 1.4826
        threshold = max(median + ACTIVITY_MADS * mad, median + MIN_ACTIVITY_DELTA)
        bucket = SAMPLE_INTERVAL * max(1, math.ceil(values.size / MAX_TIMELINE_POINTS))
        return {
            "sample_interval_seconds": SAMPLE_INTERVAL,
            "timeline_interval_seconds": bucket,
            "timeline": self._timeline(values, bucket),
            "median": round(median, 2),
            "threshold": round(threshold, 2),
            "segments": self._segments(values, threshold),
        }

    def _timeline(self, values: np.ndarray, bucket: float) -> list[float]:
        times = np.frombuffer(self.times, dtype=np.float64)
        index = (times // bucket).astype(np.int64)
        timeline = np.zeros(int(index[-1]) + 1, dtype=np.float32)
        np.maximum.at(timeline, index, values)
        return [round(float(value), 2) for value in timeline]

    def _segments(self, values: np.ndarray, threshold: float) -> list[dict[str, float]]:
        times = np.frombuffer(self.times, dtype=np.float64)
        # Runs of samples above the threshold, as [first, last] indices, merged across short dips.
        runs: list[list[int]] = []
        for index in np.flatnonzero(values > threshold).tolist():
            if runs and (index == runs[-1][1] + 1 or times[index - 1] - times[runs[-1][1]] <= MERGE_GAP):
                runs[-1][1] = index
            else:
                runs.append([index, index])
        segments = []
        for first, last in runs:
            # A value measures the change since the previous sample, so the segment starts there.
            start = float(times[first - 1]) if first else self.first_time
            end = float(times[last])
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


def _jpeg(frame: av.VideoFrame) -> tuple[bytes, int, int]:
    """Encode one frame as a JPEG no wider than POSTER_MAX_WIDTH, with PyAV's own MJPEG encoder."""
    width = min(frame.width, POSTER_MAX_WIDTH)
    height = max(2, round(frame.height * width / frame.width / 2) * 2)
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
    encoder.time_base = frame.time_base or Fraction(1, 25)
    # A fixed quantiser of 3: visually clean, a few tens of kilobytes at 640 pixels.
    encoder.qmin = encoder.qmax = 3
    image = frame.reformat(width=width, height=height, format="yuvj420p")
    data = b"".join(bytes(packet) for packet in [*encoder.encode(image), *encoder.encode(None)])
    return data, width, height


def _rate(stream: av.video.stream.VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def analyze_video(
    path: Path, *, job: VideoAnalysisJob | None = None, progress: ProgressCallback | None = None
) -> Analysis:
    """The default analyzer (see the module docstring). Raises InvalidVideo for anything not a video."""
    report = progress or (lambda fraction: None)
    try:
        # metadata_errors="replace": a corrupt tag must not turn into a UnicodeDecodeError.
        container = av.open(str(path), metadata_errors="replace")
    except _UNDECODABLE as exc:
        raise InvalidVideo("The file is not in a video container format.") from exc
    with container:
        if not container.streams.video:
            raise InvalidVideo(f"The {container.format.name} file holds no video stream.")
        stream = container.streams.video[0]
        if (stream.codec_context.width or 0) * (stream.codec_context.height or 0) >= FRAME_THREADS_MIN_PIXELS:
            stream.thread_type = "AUTO"
        fps = _rate(stream)
        declared = container.duration / av.time_base if container.duration else None
        if declared is None and stream.duration and stream.time_base:
            declared = float(stream.duration * stream.time_base)
        poster_at = declared / 2 if declared else 0.0

        motion: _Motion | None = None
        frames = 0
        last_time = 0.0
        poster: tuple[bytes, int, int, float] | None = None
        try:
            for frame in container.decode(stream):
                time = frame.time if frame.time is not None else frames / (fps or 25.0)
                frames += 1
                last_time = max(last_time, time)
                if motion is None:
                    motion = _Motion(frame.width, frame.height)
                if time >= motion.next_sample:
                    motion.add(time, frame)
                    if declared:
                        report(min(1.0, time / declared))
                # The first frame stands in until the middle one is reached (a wrong duration header must
                # not leave the video without a poster).
                if poster is None or (poster[3] < poster_at <= time):
                    poster = (*_jpeg(frame), time)
        except _UNDECODABLE as exc:
            raise InvalidVideo(f"The video data cannot be decoded after {frames} frames.") from exc
        if frames < 2 or motion is None or poster is None:
            raise InvalidVideo(
                f"The file has {frames} decodable frame(s): a still image or an empty stream, not a video."
            )

        frame_duration = 1 / fps if fps else 0.0
        duration = declared or last_time + frame_duration
        poster_data, poster_width, poster_height, poster_time = poster
        report(1.0)
        result = {
            "video": {
                "container": container.format.name,
                "codec": stream.codec_context.name,
                "duration_seconds": round(duration, 3),
                "width": stream.codec_context.width,
                "height": stream.codec_context.height,
                "fps": round(fps, 3) if fps else None,
                "frames": frames,
            },
            "motion": motion.summary(),
            "poster": {
                "artifact": POSTER_NAME,
                "time_seconds": round(poster_time, 3),
                "width": poster_width,
                "height": poster_height,
            },
        }
    return Analysis(result=result, artifacts=(Artifact(POSTER_NAME, poster_data, "image/jpeg"),))


def noop_analyzer(
    path: Path | None, *, job: VideoAnalysisJob | None = None, progress: ProgressCallback | None = None
) -> Analysis:
    """Analyses nothing and needs no video: the worker skips the download and finishes the job at once.

    For measuring the queue itself (claim, lease, finish: ``bench/queue_throughput.py``) and for checking a
    deployment's plumbing; never a production analyzer.
    """
    return Analysis(result={"analyzer": "noop"})


# Read by the worker: an analyzer with needs_video False is called with path None and no download.
noop_analyzer.needs_video = False  # type: ignore[attr-defined]
