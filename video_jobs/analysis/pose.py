"""The player's pose: MediaPipe BlazePose on frames sampled during the analysis's one pass.

Frames are sampled at VIDEO_JOBS_POSE_FPS, fewer for a long video so that the track stays bounded (at most
MAX_TRACK_FRAMES frames, a few MB of JSON, whatever the length: the rate is chosen from the declared
duration, and halved on the way when the frames outrun it), scaled to at most INFERENCE_MAX_WIDTH pixels
wide and given to the model in tracking mode, which follows the player from frame to frame and looks for
one again only when it is lost.

The model is ``mediapipe==0.10.21``'s ``solutions.pose`` with ``model_complexity=1`` (BlazePose full),
whose files ship inside the wheel: nothing is downloaded, ever (the other complexities would fetch theirs
from the network). mediapipe is imported on first use (``warm_up`` imports it ahead in the analysis
server), so that processes that never run pose do not pay its second of import and its memory.

What the analysis gets (``summary``): the result's ``pose`` (counts and the angle timelines, at most
MAX_ANGLE_POINTS points each, fewer when the result would outgrow its size), ``pose-track.json`` (every
sampled frame's 33 landmarks) and ``pose.jpg`` (the skeleton over the player at the moment they move
fastest).
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from numpy.typing import NDArray

from . import config, skeleton
from .contract import Artifact
from .poster import jpeg

logger = logging.getLogger(__name__)

MODEL = "mediapipe-blazepose-full-0.10.21"
TRACK_NAME = "pose-track.json"
PICTURE_NAME = "pose.jpg"
# BlazePose looks at 256x256 crops: a wider frame only costs scaling time.
INFERENCE_MAX_WIDTH = 640
# About 700 bytes of JSON a frame: 4000 frames (6.7 minutes at 10 a second) are under 3 MB.
MAX_TRACK_FRAMES = 4000
MAX_ANGLE_POINTS = 600
MIN_ANGLE_POINTS = 20
# MediaPipe smooths landmarks over time assuming closely spaced frames: only for samples this close.
SMOOTH_MAX_INTERVAL = 0.2


def enabled() -> bool:
    return config.current().pose_fps > 0


def warm_up() -> None:
    """Import mediapipe now (the analysis server, before it forks its children), when pose is on."""
    if enabled():
        import mediapipe.python.solutions.pose  # noqa: F401


@contextmanager
def _native_log_to_debug() -> Iterator[None]:
    """MediaPipe's C++ side writes its start-up chatter (XNNPACK, absl) straight to file descriptor 2: catch
    it and log it at DEBUG instead of cluttering the worker's output on every job."""
    with tempfile.TemporaryFile() as caught:
        saved = os.dup(2)
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read(64 * 1024).decode(errors="replace").splitlines():
                logger.debug("mediapipe: %s", line)


def _load_model(smooth: bool) -> Any:
    from mediapipe.python.solutions import pose as mp_pose

    # model_complexity=1 is the one model in the wheel; never 0 or 2 (they download theirs).
    return mp_pose.Pose(
        static_image_mode=False, model_complexity=1, smooth_landmarks=smooth, enable_segmentation=False
    )


@dataclass
class _Picture:
    speed: float
    time: float
    rgb: NDArray[Any]
    points: NDArray[Any]


class PoseTracker:
    """Streaming: ``wants(time)`` says whether a frame at that time is due for a sample, ``add`` runs the
    model on it; ``summary`` then builds the result and artifacts. Call ``close`` when done."""

    def __init__(self, width: int, height: int, *, fps: float, declared_duration: float | None) -> None:
        self.width = min(width, INFERENCE_MAX_WIDTH)
        self.height = max(2, round(height * self.width / width / 2) * 2)
        # A tenth to spare: a duration header a little short must not halve the rate near the end.
        self.interval = max(1.0 / fps, (declared_duration or 0.0) / (0.9 * MAX_TRACK_FRAMES))
        self.next_sample = 0.0
        self.times = np.zeros(MAX_TRACK_FRAMES, dtype=np.float64)
        # NaN rows: no person in that frame.
        self.points = np.full((MAX_TRACK_FRAMES, len(skeleton.LANDMARKS), 3), np.nan, dtype=np.float32)
        self.count = 0
        self.picture: _Picture | None = None
        self._reformatter = VideoReformatter()
        self._model: Any = None

    def wants(self, time: float) -> bool:
        # (A microsecond's slack: 0.6 + 0.2 must not miss the frame at 0.8.)
        return time >= self.next_sample - 1e-6 and (self.count == 0 or time > self.times[self.count - 1])

    def add(self, time: float, frame: av.VideoFrame) -> None:
        self.next_sample = max(self.next_sample + self.interval, time + self.interval / 2)
        # AREA: the filter for shrinking (no aliasing), and cheaper than the default bilinear here (1.8 ms
        # against 2.4 for a 1080p frame, bench/README.md).
        rgb = self._reformatter.reformat(
            frame, width=self.width, height=self.height, format="rgb24", interpolation="AREA"
        )
        pixels = rgb.to_ndarray()
        points = self._infer(pixels)
        previous = self.points[self.count - 1] if self.count else None
        self.times[self.count] = time
        if points is not None:
            self.points[self.count] = points
            self._consider_picture(time, pixels, points, previous)
        self.count += 1
        if self.count == MAX_TRACK_FRAMES:
            self._thin()

    def _infer(self, pixels: NDArray[Any]) -> NDArray[Any] | None:
        if self._model is None:
            with _native_log_to_debug():
                self._model = _load_model(smooth=self.interval <= SMOOTH_MAX_INTERVAL)
                found = self._model.process(pixels)
        else:
            found = self._model.process(pixels)
        if found.pose_landmarks is None:
            return None
        return np.array(
            [(mark.x, mark.y, mark.visibility) for mark in found.pose_landmarks.landmark], dtype=np.float32
        )

    def _thin(self) -> None:
        """Keep every other frame and sample half as often from now on, on the coarser grid: the track's
        bound holds for a video of any length, even one that declared no duration."""
        kept = (self.count + 1) // 2
        self.times[:kept] = self.times[0 : self.count : 2]
        self.points[:kept] = self.points[0 : self.count : 2]
        self.points[kept:] = np.nan
        self.count = kept
        self.interval *= 2
        self.next_sample = float(self.times[kept - 1]) + self.interval

    def _consider_picture(
        self, time: float, pixels: NDArray[Any], points: NDArray[Any], previous: NDArray[Any] | None
    ) -> None:
        """Keep the frame where the player moves fastest (the first one seen until they move)."""
        speed = 0.0
        if previous is not None and not np.isnan(previous[0, 0]):
            elapsed = time - float(self.times[self.count - 1])
            speed = skeleton.activity(previous, points, self.width, self.height, elapsed)
        if self.picture is None or speed > self.picture.speed:
            self.picture = _Picture(speed, time, pixels.copy(), points.copy())

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None

    def summary(self, budget_bytes: int) -> tuple[dict[str, Any], list[Artifact]]:
        """The result's ``pose`` (its JSON within ``budget_bytes``) and the artifacts."""
        times = self.times[: self.count]
        points = self.points[: self.count]
        present = ~np.isnan(points[:, 0, 0])
        person_frames = int(present.sum())
        sample_fps = round(1.0 / self.interval, 3)
        series = self._angle_series(points, present)
        result: dict[str, Any] = {
            "model": MODEL,
            "sample_fps": sample_fps,
            "sampled_frames": self.count,
            "person_frames": person_frames,
            "detected_fraction": round(person_frames / self.count, 4) if self.count else 0.0,
            "track": TRACK_NAME,
            "picture": None,
            "angles": {},
        }
        artifacts = [
            Artifact(TRACK_NAME, self._track_json(times, points, present, sample_fps), "application/json")
        ]
        if self.picture is not None:
            data, width, height = jpeg(
                av.VideoFrame.from_ndarray(
                    skeleton.draw(self.picture.rgb, self.picture.points), format="rgb24"
                )
            )
            artifacts.append(Artifact(PICTURE_NAME, data, "image/jpeg"))
            result["picture"] = {
                "artifact": PICTURE_NAME,
                "time_seconds": round(self.picture.time, 3),
                "width": width,
                "height": height,
            }
        fixed = len(json.dumps(result))
        result["angles"] = _fit_timelines(times, series, budget_bytes - fixed)
        return result, artifacts

    def _angle_series(self, points: NDArray[Any], present: NDArray[Any]) -> dict[str, NDArray[Any]]:
        series = {name: np.full(self.count, np.nan) for name in skeleton.ANGLES}
        for index in np.flatnonzero(present).tolist():
            for name, value in skeleton.angles(points[index], self.width, self.height).items():
                if value is not None:
                    series[name][index] = value
        return series

    def _track_json(
        self, times: NDArray[Any], points: NDArray[Any], present: NDArray[Any], sample_fps: float
    ) -> bytes:
        frames = []
        for index in range(self.count):
            row = None
            if present[index]:
                row = [[round(x, 4), round(y, 4), round(v, 2)] for x, y, v in points[index].tolist()]
            frames.append({"t": round(float(times[index]), 3), "points": row})
        track = {
            "model": MODEL,
            "sample_fps": sample_fps,
            "frame_width": self.width,
            "frame_height": self.height,
            **skeleton.description(),
            "frames": frames,
        }
        return json.dumps(track, separators=(",", ":"), allow_nan=False).encode()


def _timelines(times: NDArray[Any], series: dict[str, NDArray[Any]], points: int) -> dict[str, list[Any]]:
    """Each series as at most ``points`` [seconds, degrees] pairs: one per frame, or the mean of equal runs
    of frames (their mean time; degrees None when none of them saw the joint). Whole degrees: the model is
    not more precise, and 600 points of six angles must fit in the result beside the rest."""
    count = len(times)
    if count == 0:
        return {name: [] for name in series}
    buckets = np.minimum(np.arange(count) * min(points, count) // count, points - 1)
    edges = np.flatnonzero(np.diff(buckets, prepend=-1))
    sizes = np.diff(np.append(edges, count))
    bucket_times = np.add.reduceat(times, edges) / sizes
    timelines = {}
    for name, values in series.items():
        seen = ~np.isnan(values)
        sums = np.add.reduceat(np.where(seen, values, 0.0), edges)
        counts = np.add.reduceat(seen.astype(np.int64), edges)
        timelines[name] = [
            [round(float(t), 2), round(float(s / c)) if c else None]
            for t, s, c in zip(bucket_times.tolist(), sums.tolist(), counts.tolist(), strict=True)
        ]
    return timelines


def _fit_timelines(times: NDArray[Any], series: dict[str, NDArray[Any]], budget: int) -> dict[str, list[Any]]:
    """The timelines with as many points as fit in ``budget`` bytes of JSON (at most MAX_ANGLE_POINTS)."""
    points = MAX_ANGLE_POINTS
    while True:
        timelines = _timelines(times, series, points)
        size = len(json.dumps(timelines))
        if size <= budget or points <= MIN_ANGLE_POINTS:
            return timelines
        points = max(MIN_ANGLE_POINTS, math.floor(points * budget / size * 0.95))
