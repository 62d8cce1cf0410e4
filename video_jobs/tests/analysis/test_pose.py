"""Pose on real videos of a real person: scikit-image's astronaut photograph crossing a field, made with PyAV,
tracked by the real BlazePose model; and a field with nobody in it."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from video_jobs.analysis import Analysis, analyze_video, check_result_size
from video_jobs.analysis import pose as pose_module
from video_jobs.analysis.skeleton import ANGLES, CONNECTIONS, LANDMARKS
from video_jobs.devtools.synthetic_video import astronaut, person_centre, write_person_video

SECONDS, WIDTH, HEIGHT, FPS = 3.0, 320, 180, 25


@pytest.fixture(scope="module")
def person_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pose") / "person.mp4"
    return write_person_video(path, astronaut(), seconds=SECONDS, width=WIDTH, height=HEIGHT, fps=FPS)


@pytest.fixture(scope="module")
def person(person_video: Path) -> Analysis:
    return analyze_video(person_video, pose_fps=10)


def artifact(analysis: Analysis, name: str) -> bytes:
    [found] = [item.data for item in analysis.artifacts if item.name == name]
    return found


def track(analysis: Analysis) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(artifact(analysis, "pose-track.json"))
    return data


def test_the_person_is_found_in_most_sampled_frames(person: Analysis) -> None:
    pose = person.result["pose"]

    assert pose["model"] == "mediapipe-blazepose-full-0.10.21"
    assert pose["sample_fps"] == 10.0
    assert pose["sampled_frames"] == 30
    assert pose["person_frames"] >= 27
    assert pose["detected_fraction"] == round(pose["person_frames"] / 30, 4)


def test_the_tracked_nose_follows_the_person_across_the_frame(person: Analysis) -> None:
    frames = [frame for frame in track(person)["frames"] if frame["points"] is not None]
    side = HEIGHT * 0.8
    noses = []
    for frame in frames:
        x, y, visibility = frame["points"][LANDMARKS.index("nose")]
        centre_x, centre_y = person_centre(frame["t"], SECONDS, WIDTH, HEIGHT)
        # Inside the photograph, in its upper half (where her face is), and seen.
        assert abs(x * WIDTH - centre_x) < side / 4, frame
        assert centre_y - side / 2 < y * HEIGHT < centre_y, frame
        assert visibility > 0.9
        noses.append(x)
    # From the left third of the frame to the right third, never going back by more than jitter.
    assert noses[0] < 0.33
    assert noses[-1] > 0.6
    assert min(np.diff(noses)) > -0.01


def test_the_track_lists_every_sampled_frame_with_the_skeleton(person: Analysis) -> None:
    data = track(person)

    assert data["landmarks"] == list(LANDMARKS)
    assert data["connections"] == [list(pair) for pair in CONNECTIONS]
    assert (data["sample_fps"], data["frame_width"], data["frame_height"]) == (10.0, WIDTH, HEIGHT)
    assert len(data["frames"]) == 30
    times = [frame["t"] for frame in data["frames"]]
    assert times == sorted(times)
    assert times[0] == 0.0
    assert times[-1] < SECONDS
    for frame in data["frames"]:
        assert frame["points"] is None or (
            len(frame["points"]) == 33 and all(len(p) == 3 for p in frame["points"])
        )


def test_the_result_has_angle_timelines_and_the_picture(person: Analysis, tmp_path: Path) -> None:
    pose = person.result["pose"]

    assert set(pose["angles"]) == set(ANGLES)
    for timeline in pose["angles"].values():
        assert len(timeline) == 30
        assert all(len(pair) == 2 and (pair[1] is None or -180 <= pair[1] <= 180) for pair in timeline)
    # A portrait: her shoulders are seen in every frame she is found in (her elbows are mostly not).
    tilts = [value for _, value in pose["angles"]["shoulder_tilt"] if value is not None]
    assert len(tilts) >= 27
    assert all(abs(value) < 30 for value in tilts)
    picture = pose["picture"]
    assert picture["artifact"] == "pose.jpg"
    jpeg = tmp_path / "pose.jpg"
    jpeg.write_bytes(artifact(person, "pose.jpg"))
    with av.open(str(jpeg)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (picture["width"], picture["height"]) == (WIDTH, HEIGHT)
    check_result_size(person.result)


def test_a_field_with_nobody_is_analysed_with_no_person(tmp_path: Path) -> None:
    path = write_person_video(tmp_path / "empty.mp4", None, seconds=2, width=WIDTH, height=HEIGHT, fps=FPS)

    analysis = analyze_video(path, pose_fps=5)

    pose = analysis.result["pose"]
    assert (pose["sampled_frames"], pose["person_frames"], pose["detected_fraction"]) == (10, 0, 0.0)
    assert pose["picture"] is None
    assert all(value is None for timeline in pose["angles"].values() for _, value in timeline)
    assert all(frame["points"] is None for frame in track(analysis)["frames"])
    assert {item.name for item in analysis.artifacts} == {"poster.jpg", "pose-track.json"}


def test_pose_runs_with_outbound_sockets_refused(person_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)

    pose = analyze_video(person_video, pose_fps=2).result["pose"]

    assert pose["person_frames"] >= 5
    assert attempts == []


def test_pose_fps_zero_turns_pose_off(person_video: Path) -> None:
    analysis = analyze_video(person_video, pose_fps=0)

    assert "pose" not in analysis.result
    assert [item.name for item in analysis.artifacts] == ["poster.jpg"]


def test_the_track_stays_bounded_by_sampling_less_often(
    person_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pose_module, "MAX_TRACK_FRAMES", 20)

    pose = analyze_video(person_video, pose_fps=10).result["pose"]

    # The container declares 3 seconds: 20 frames, less a tenth to spare, fit at one every 3/18 s.
    assert (pose["sample_fps"], pose["sampled_frames"]) == (6.0, 18)
    assert all(len(timeline) == 18 for timeline in pose["angles"].values())


def test_without_a_declared_duration_the_rate_halves_when_the_track_fills(
    person_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pose_module, "MAX_TRACK_FRAMES", 8)
    tracker = pose_module.PoseTracker(WIDTH, HEIGHT, fps=10, declared_duration=None)
    try:
        with av.open(str(person_video)) as container:
            for frame in container.decode(video=0):
                if tracker.wants(frame.time):
                    tracker.add(frame.time, frame)
    finally:
        tracker.close()
    pose, _ = tracker.summary(budget_bytes=60_000)

    # 30 frames were due at 10 a second. Each time the track holds 8, every other one goes and the rate
    # halves: at 0.7 s (5 a second from then), 1.4 s (2.5) and 2.8 s (1.25).
    assert (pose["sample_fps"], pose["sampled_frames"]) == (1.25, 4)
    assert [time for time, _ in pose["angles"]["hip_tilt"]] == [0.0, 0.8, 1.6, 2.4]


def test_a_long_video_is_sampled_less_often_from_the_start() -> None:
    hour = pose_module.PoseTracker(1920, 1080, fps=10, declared_duration=3600)
    short = pose_module.PoseTracker(1920, 1080, fps=10, declared_duration=60)

    assert hour.interval == 3600 / (0.9 * pose_module.MAX_TRACK_FRAMES)
    assert short.interval == 0.1
    assert (hour.width, hour.height) == (640, 360)
