"""The skeleton's maths on hand-placed landmarks, and the angle timelines' bounds (no model needed)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from video_jobs.analysis import pose, skeleton
from video_jobs.analysis.skeleton import LANDMARKS


def placed(width: int = 200, height: int = 100, **pixels: tuple[float, float]) -> NDArray[Any]:
    """33 landmarks, unseen (visibility 0) but for those given here, in pixels of a width x height frame."""
    points = np.zeros((len(LANDMARKS), 3), dtype=np.float32)
    for name, (x, y) in pixels.items():
        points[LANDMARKS.index(name)] = (x / width, y / height, 0.99)
    return points


def test_the_names_and_bones_are_mediapipes() -> None:
    from mediapipe.python.solutions import pose as mp_pose

    assert list(LANDMARKS) == [landmark.name.lower() for landmark in mp_pose.PoseLandmark]
    assert set(skeleton.CONNECTIONS) == {tuple(pair) for pair in mp_pose.POSE_CONNECTIONS}


def test_joint_angles_are_measured_in_pixels() -> None:
    # A right angle at the left elbow in a 200x100 frame: in normalised units it would not be one.
    points = placed(left_shoulder=(100, 20), left_elbow=(100, 60), left_wrist=(160, 60))
    points[LANDMARKS.index("right_hip")] = (0.5, 0.5, 0.99)
    points[LANDMARKS.index("right_knee")] = (0.5, 0.7, 0.99)
    points[LANDMARKS.index("right_ankle")] = (0.5, 0.9, 0.99)

    found = skeleton.angles(points, 200, 100)

    assert found["left_elbow"] == pytest.approx(90.0)
    assert found["right_knee"] == pytest.approx(180.0)
    assert found["right_elbow"] is None
    assert found["left_knee"] is None


def test_tilts_are_positive_when_the_left_side_is_higher_whichever_way_the_player_faces() -> None:
    facing = placed(left_shoulder=(120, 40), right_shoulder=(80, 50), left_hip=(120, 80), right_hip=(80, 80))
    away = placed(left_shoulder=(80, 40), right_shoulder=(120, 50))

    assert skeleton.angles(facing, 200, 100)["shoulder_tilt"] == pytest.approx(14.036, abs=1e-3)
    assert skeleton.angles(facing, 200, 100)["hip_tilt"] == pytest.approx(0.0)
    assert skeleton.angles(away, 200, 100)["shoulder_tilt"] == pytest.approx(14.036, abs=1e-3)


def test_a_landmark_seen_poorly_gives_no_angle() -> None:
    points = placed(left_shoulder=(100, 20), left_elbow=(100, 60), left_wrist=(160, 60))
    points[LANDMARKS.index("left_wrist"), 2] = skeleton.MIN_VISIBILITY - 0.01

    assert skeleton.angles(points, 200, 100)["left_elbow"] is None


def test_activity_is_the_mean_speed_of_the_landmarks_seen_in_both_frames() -> None:
    before = placed(nose=(10, 10), left_wrist=(50, 50))
    after = placed(nose=(10, 10), left_wrist=(50, 90))

    assert skeleton.activity(before, after, 200, 100, 0.5) == pytest.approx(40.0)  # (0 + 40) / 2 / 0.5 s
    assert skeleton.activity(before, placed(), 200, 100, 0.5) == 0.0


def test_drawing_marks_the_seen_bones_on_a_copy() -> None:
    picture = np.zeros((100, 200, 3), dtype=np.uint8)
    points = placed(left_shoulder=(40, 50), left_elbow=(160, 50))

    drawn = skeleton.draw(picture, points)

    assert picture.max() == 0
    assert drawn[50, 100].tolist() == [255, 255, 255]  # the bone's middle
    assert drawn[10, 100].max() == 0


def test_timelines_keep_one_point_per_frame_up_to_the_limit_then_average_equal_runs() -> None:
    times = np.arange(1200) / 10
    values = np.where(np.arange(1200) % 2 == 0, 10.0, np.nan)  # every other frame unseen
    values[1000:] = np.nan

    short = pose._timelines(times[:50], {"a": values[:50]}, 600)["a"]
    long = pose._timelines(times, {"a": values}, 600)["a"]

    assert len(short) == 50
    assert short[1] == [0.1, None]
    assert short[2] == [0.2, 10]
    assert len(long) == 600
    assert long[0] == [0.05, 10]  # frames 0 and 1: one seen, mean time 0.05 s
    assert long[-1] == [119.85, None]


def test_the_timelines_fit_the_room_the_result_leaves() -> None:
    times = np.arange(4000) * 5.4  # a six-hour video's track
    series = {name: np.full(4000, 123.4) for name in skeleton.ANGLES}

    roomy = pose._fit_timelines(times, series, 70_000)
    tight = pose._fit_timelines(times, series, 20_000)

    assert all(len(timeline) == 600 for timeline in roomy.values())
    assert len(json.dumps(roomy)) <= 70_000
    assert 100 < len(tight["left_elbow"]) < 600
    assert len(json.dumps(tight)) <= 20_000
