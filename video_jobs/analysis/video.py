"""The default analyzer, ``analyze_video``: one streaming pass over the video with PyAV.

One decoded frame is in memory at a time, whatever the video's length. The pass probes the container
(codec, duration, size, frame rate), refuses what is over the limits before decoding a frame, decodes every
frame (counting them, checking the limits again on what the frames really are), samples motion, keeps
a poster frame from the middle, and tracks the player's pose (``pose.py``) unless VIDEO_JOBS_POSE_FPS is 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import av.error

from . import config
from .contract import MAX_RESULT_BYTES, Analysis, Artifact, InvalidVideo, JobInfo, ProgressCallback
from .limits import Limits, is_machine_fault
from .motion import MotionSampler
from .pose import PoseTracker, warm_up
from .poster import POSTER_NAME, jpeg

# Frame threading pays off on large frames; on small ones its hand-offs cost more than they save.
FRAME_THREADS_MIN_PIXELS = 640 * 360
# What the worker adds to the result (where the artifacts are, what it downloaded), kept free of the pose's
# angle timelines, which take what room the rest leaves.
WORKER_RESERVE_BYTES = 2048


def _rate(stream: av.video.stream.VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def _declared_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    if container.duration:
        return float(container.duration / av.time_base)
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def analyze_video(
    path: Path,
    *,
    job: JobInfo | None = None,
    progress: ProgressCallback | None = None,
    limits: Limits | None = None,
    pose_fps: float | None = None,
) -> Analysis:
    """The default analyzer (see the module docstring). Raises InvalidVideo for anything that is not a
    video, VideoLimitsExceeded for a video over ``limits`` (default: the analysis settings). ``pose_fps``:
    the pose's sample rate (default VIDEO_JOBS_POSE_FPS; 0: no pose)."""
    limits = limits or Limits.from_settings()
    pose_fps = config.current().pose_fps if pose_fps is None else pose_fps
    report = progress or (lambda fraction: None)
    size = path.stat().st_size
    try:
        # metadata_errors="replace": a corrupt tag must not turn into a UnicodeDecodeError. The codec options
        # already apply while the container is probed, which may decode a frame.
        container = av.open(str(path), metadata_errors="replace", options=limits.codec_options())
    except av.error.FFmpegError as exc:
        if is_machine_fault(exc):
            raise
        raise InvalidVideo("The file is not in a video container format.") from exc
    with container:
        if not container.streams.video:
            raise InvalidVideo(f"The {container.format.name} file holds no video stream.")
        stream = container.streams.video[0]
        context = stream.codec_context
        limits.check_frame_size(context.width or 0, context.height or 0, seen="the container declares")
        declared = _declared_duration(container, stream)
        if declared is not None:
            limits.check_duration(declared, seen="the container declares")
        context.options = limits.codec_options()
        context.thread_count = limits.decoder_threads
        if (context.width or 0) * (context.height or 0) >= FRAME_THREADS_MIN_PIXELS:
            context.thread_type = "AUTO"
        fps = _rate(stream)
        poster_at = declared / 2 if declared else 0.0

        motion: MotionSampler | None = None
        pose: PoseTracker | None = None
        frames = 0
        origin: float | None = None
        last_time = 0.0
        poster: tuple[bytes, int, int, float] | None = None
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    limits.check_frame_size(frame.width, frame.height, seen="decoded")
                    # Seconds from the first frame: containers may start anywhere, and the timestamps
                    # themselves may jump or go back (they make no motion sample then, see motion.py).
                    absolute = frame.time if frame.time is not None else frames / (fps or 25.0)
                    origin = absolute if origin is None else origin
                    time = absolute - origin
                    limits.check_duration(time, seen="the decoded frames span")
                    frames += 1
                    last_time = max(last_time, time)
                    if motion is None:
                        motion = MotionSampler(frame.width, frame.height)
                    if pose is None and pose_fps > 0:
                        pose = PoseTracker(
                            frame.width, frame.height, fps=pose_fps, declared_duration=declared
                        )
                    if pose is not None and pose.wants(time):
                        pose.add(time, frame)
                    if motion.wants(time):
                        motion.add(time, frame)
                        if declared:
                            report(min(1.0, time / declared))
                    # The first frame stands in until the middle one is reached (a wrong duration header
                    # must not leave the video without a poster).
                    if poster is None or (poster[3] < poster_at <= time):
                        poster = (*jpeg(frame), time)
                if not declared and packet.pos is not None and packet.pos > 0:
                    # No duration to measure against (a browser-recorded WebM): bytes consumed instead.
                    report(min(1.0, packet.pos / size))
        except av.error.FFmpegError as exc:
            if is_machine_fault(exc):
                raise
            raise InvalidVideo(f"The video data cannot be decoded after {frames} frames.") from exc
        finally:
            if pose is not None:
                pose.close()
        if frames < 2 or motion is None or poster is None:
            raise InvalidVideo(
                f"The file has {frames} decodable frame(s): a still image or an empty stream, not a video."
            )

        # From the frames, not the header: it may lie, or count from a start long before the first frame.
        duration = last_time + (1 / fps if fps else 0.0)
        poster_data, poster_width, poster_height, poster_time = poster
        report(1.0)
        result: dict[str, Any] = {
            "video": {
                "container": container.format.name,
                "codec": context.name,
                "duration_seconds": round(duration, 3),
                "width": context.width,
                "height": context.height,
                "fps": round(fps, 3) if fps else None,
                "frames": frames,
            },
            "motion": motion.samples.summary(),
            "poster": {
                "artifact": POSTER_NAME,
                "time_seconds": round(poster_time, 3),
                "width": poster_width,
                "height": poster_height,
            },
        }
        artifacts = [Artifact(POSTER_NAME, poster_data, "image/jpeg")]
        if pose is not None:
            budget = MAX_RESULT_BYTES - WORKER_RESERVE_BYTES - len(json.dumps(result))
            result["pose"], pose_artifacts = pose.summary(budget)
            artifacts += pose_artifacts
    return Analysis(result=result, artifacts=tuple(artifacts))


# Read by the analysis server, which calls it once before it forks a child per analysis: mediapipe is
# imported there, not in every child (``video_jobs/worker/child.py``).
analyze_video.warm_up = warm_up  # type: ignore[attr-defined]
