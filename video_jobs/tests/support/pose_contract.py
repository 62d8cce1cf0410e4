"""A pose analysis in the shape the pose backend writes (result["pose"], pose-track.json, pose.jpg), added to
a job the real analyzer finished: what the coaches' page draws, while the backend is not on main yet.

The figure is a stick person standing where the synthetic video's player runs (``write_test_video``): in
the frame during the bursts of motion, absent (``points: null``) between them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from video_jobs.devtools.synthetic_video import burst_windows
from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage

SAMPLE_FPS = 10
LANDMARKS = [f"landmark_{i}" for i in range(33)]
# BlazePose's skeleton between the landmarks used here (shoulders 11/12, elbows 13/14, wrists 15/16, hips
# 23/24, knees 25/26, ankles 27/28; the nose is 0).
CONNECTIONS = [[11, 12], [11, 13], [13, 15], [12, 14], [14, 16], [11, 23], [12, 24], [23, 24], [23, 25],
               [25, 27], [24, 26], [26, 28], [0, 11], [0, 12]]  # fmt: skip


def figure(centre: float) -> list[list[float]]:
    """33 [x, y, visibility] points: a person about half the frame high, standing at x = centre."""
    points = [[centre, 0.5, 0.0] for _ in range(33)]  # landmarks not drawn here: not seen
    at = {0: (0, 0.25), 11: (-0.03, 0.32), 12: (0.03, 0.32), 13: (-0.05, 0.42), 14: (0.05, 0.42),
          15: (-0.06, 0.5), 16: (0.06, 0.5), 23: (-0.02, 0.52), 24: (0.02, 0.52), 25: (-0.03, 0.63),
          26: (0.03, 0.63), 27: (-0.03, 0.74), 28: (0.03, 0.74)}  # fmt: skip
    for index, (dx, y) in at.items():
        points[index] = [round(centre + dx, 4), y, 0.98]
    return points


def centre_at(t: float, seconds: float) -> float | None:
    for start, end in burst_windows(seconds):
        if start <= t < end:
            return 0.1 + 0.8 * (t - start) / (end - start)
    return None


def add_pose(job: VideoAnalysisJob) -> VideoAnalysisJob:
    assert isinstance(job.result, dict)
    result: dict[str, Any] = dict(job.result)
    seconds = float(result["video"]["duration_seconds"])
    frames: list[dict[str, Any]] = []
    for index in range(int(seconds * SAMPLE_FPS)):
        t = round(index / SAMPLE_FPS, 3)
        centre = centre_at(t, seconds)
        frames.append({"t": t, "points": None if centre is None else figure(centre)})
    track = {"landmarks": LANDMARKS, "connections": CONNECTIONS, "sample_fps": SAMPLE_FPS, "frames": frames}

    def timeline(phase: float, amplitude: float, middle: float) -> list[list[float | None]]:
        return [
            [f["t"], None if f["points"] is None else round(middle + amplitude * math.sin(f["t"] + phase), 1)]
            for f in frames
        ]

    seen = sum(1 for f in frames if f["points"] is not None)
    result["pose"] = {
        "model": "contract-shaped test data",
        "sample_fps": SAMPLE_FPS,
        "sampled_frames": len(frames),
        "person_frames": seen,
        "detected_fraction": round(seen / len(frames), 3),
        "angles": {
            "left_elbow": timeline(0, 40, 120),
            "right_elbow": timeline(1, 40, 130),
            "left_knee": timeline(2, 20, 160),
            "right_knee": timeline(3, 20, 150),
            "shoulder_tilt": timeline(0.5, 8, 0),
            "hip_tilt": timeline(1.5, 5, 0),
        },
    }
    poster = storage.client().get_object(Bucket=job.s3_bucket, Key=storage.artifact_key(job.pk, "poster.jpg"))
    stored = {"pose-track.json": (json.dumps(track).encode(), "application/json"),
              "pose.jpg": (poster["Body"].read(), "image/jpeg")}  # fmt: skip
    artifacts = dict(result["artifacts"])
    for name, (data, content_type) in stored.items():
        key = storage.artifact_key(job.pk, name)
        storage.put_artifact(bucket=job.s3_bucket, key=key, data=data, content_type=content_type)
        artifacts[name] = {"key": key, "content_type": content_type, "size_bytes": len(data)}
    result["artifacts"] = artifacts
    VideoAnalysisJob.objects.filter(pk=job.pk).update(result=result)
    return VideoAnalysisJob.objects.get(pk=job.pk)
