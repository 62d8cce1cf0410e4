"""The default PyAV analyzer on real generated videos: probe, motion segments, poster, invalid input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from video_jobs.analysis import (
    Artifact,
    InvalidVideo,
    JobInterrupted,
    ResultTooLarge,
    analyze_video,
    check_result_size,
)
from video_jobs.analysis import motion as motion_module
from video_jobs.analysis.poster import jpeg
from video_jobs.devtools.synthetic_video import burst_windows, write_test_video

from ..support.hostile_videos import timestamp_gap_matroska, webm_without_duration


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("analysis")


def make(videos: Path, name: str, **options: Any) -> Path:
    path = videos / name
    if not path.exists():
        write_test_video(path, **options)
    return path


def test_the_probe_reports_container_codec_duration_size_rate_and_frames(videos: Path) -> None:
    path = make(videos, "probe.mp4", seconds=6, width=320, height=180, fps=25)

    result = analyze_video(path).result

    assert result["video"] == {
        "container": "mov,mp4,m4a,3gp,3g2,mj2",
        "codec": "h264",
        "duration_seconds": 6.0,
        "width": 320,
        "height": 180,
        "fps": 25.0,
        "frames": 150,
    }


def test_frames_are_counted_by_decoding_where_the_container_does_not_say(videos: Path) -> None:
    path = make(videos, "counted.webm", seconds=4, width=160, height=90, fps=10)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0  # WebM headers carry no frame count

    video = analyze_video(path).result["video"]

    assert (video["container"], video["codec"], video["frames"], video["duration_seconds"]) == (
        "matroska,webm",
        "vp8",
        40,
        4.0,
    )


@pytest.mark.parametrize("grain", [0, 30], ids=["clean", "grainy"])
def test_the_segments_of_high_activity_are_the_bursts_of_motion(videos: Path, grain: int) -> None:
    seconds = 20.0
    path = make(videos, f"bursts-{grain}.mp4", seconds=seconds, width=160, height=90, fps=10, grain=grain)

    motion = analyze_video(path).result["motion"]

    drawn = burst_windows(seconds)
    found = [(segment["start_seconds"], segment["end_seconds"]) for segment in motion["segments"]]
    assert len(found) == len(drawn) == 3
    for (start, end), (drawn_start, drawn_end) in zip(found, drawn, strict=True):
        assert start == pytest.approx(drawn_start, abs=0.5)
        assert end == pytest.approx(drawn_end, abs=0.5)
    # The threshold follows the video: sensor grain raises the baseline, the bursts still stand out.
    assert motion["threshold"] > motion["median"]
    assert all(segment["peak"] > motion["threshold"] for segment in motion["segments"])
    assert motion["sample_interval_seconds"] == motion_module.SAMPLE_INTERVAL
    assert len(motion["timeline"]) == pytest.approx(seconds / motion["timeline_interval_seconds"], abs=1)


def test_a_still_video_has_no_segments(videos: Path) -> None:
    path = make(videos, "still.mp4", seconds=2.5, width=160, height=90, fps=10)  # the first burst is at 3 s

    motion = analyze_video(path).result["motion"]

    assert motion["segments"] == []
    assert max(motion["timeline"]) < motion["threshold"]


def test_the_timeline_is_bucketed_to_a_bounded_number_of_points(
    videos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make(videos, "bursts-0.mp4", seconds=20.0, width=160, height=90, fps=10, grain=0)
    full = analyze_video(path).result["motion"]
    monkeypatch.setattr(motion_module, "MAX_TIMELINE_POINTS", 10)

    bucketed = analyze_video(path).result["motion"]

    assert len(bucketed["timeline"]) <= 10
    assert bucketed["timeline_interval_seconds"] == 2.0
    assert max(bucketed["timeline"]) == max(full["timeline"])  # buckets keep their peaks
    assert bucketed["segments"] == full["segments"]  # segments come from every sample, not the buckets


def test_the_poster_is_a_jpeg_of_the_middle_frame_no_wider_than_640(videos: Path, tmp_path: Path) -> None:
    path = make(videos, "wide.mp4", seconds=2, width=1280, height=720, fps=25)

    result = analyze_video(path)

    [poster] = result.artifacts
    assert (poster.name, poster.content_type) == ("poster.jpg", "image/jpeg")
    assert result.result["poster"] == {
        "artifact": "poster.jpg",
        "time_seconds": 1.0,
        "width": 640,
        "height": 360,
    }
    (tmp_path / "poster.jpg").write_bytes(poster.data)
    with av.open(str(tmp_path / "poster.jpg")) as image:
        frame = next(image.decode(video=0))
        assert (image.streams.video[0].codec_context.name, frame.width, frame.height) == ("mjpeg", 640, 360)
        # Not a blank picture: the field's stripes and pitch are there.
        assert frame.to_ndarray(format="gray").std() > 10


def test_progress_rises_to_one_and_an_interruption_goes_through(videos: Path) -> None:
    path = make(videos, "probe.mp4", seconds=6, width=320, height=180, fps=25)
    fractions: list[float] = []

    analyze_video(path, progress=fractions.append)

    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert len(fractions) > 10

    def stop(fraction: float) -> None:
        if fraction > 0.5:
            raise JobInterrupted("lease lost")

    with pytest.raises(JobInterrupted):
        analyze_video(path, progress=stop)


def test_without_a_declared_duration_progress_follows_the_bytes_read(tmp_path: Path) -> None:
    # A browser's MediaRecorder streams its WebM: the header never learns the duration.
    path = webm_without_duration(tmp_path / "recorded.webm", seconds=4.0)
    with av.open(str(path)) as container:
        assert container.duration is None
    fractions: list[float] = []

    result = analyze_video(path, progress=fractions.append).result

    assert result["video"]["frames"] == 100
    assert len(fractions) > 10
    assert fractions == sorted(fractions)
    assert 0 < fractions[0] < 0.5
    assert fractions[-1] == 1.0


def test_timestamps_are_taken_from_the_first_frame(tmp_path: Path) -> None:
    late = timestamp_gap_matroska(tmp_path / "late.mkv", times=[1000 + n / 4 for n in range(12)])

    result = analyze_video(late).result

    assert result["video"]["duration_seconds"] == pytest.approx(2.75, abs=0.1)  # not 1002.75
    assert len(result["motion"]["timeline"]) == 12


# --- not a video ------------------------------------------------------------------------------------------


def test_bytes_that_are_no_container_are_an_invalid_video(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(1).bytes(50_000))

    with pytest.raises(InvalidVideo, match="not in a video container format"):
        analyze_video(path)


def test_an_invalid_video_says_what_is_wrong_without_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(2).bytes(50_000))

    with pytest.raises(InvalidVideo) as refused:
        analyze_video(path)

    # The message reaches the client; FFmpeg's own words, which name the file, are the cause, for staff.
    assert str(tmp_path) not in str(refused.value)
    assert str(path) in str(refused.value.__cause__)


def test_a_truncated_video_is_an_invalid_video(videos: Path, tmp_path: Path) -> None:
    data = make(videos, "probe.mp4", seconds=6, width=320, height=180, fps=25).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 3])

    with pytest.raises(InvalidVideo):
        analyze_video(path)


def test_audio_without_video_is_an_invalid_video(tmp_path: Path) -> None:
    path = tmp_path / "commentary.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for index in range(40):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 44100, index * 1024, Fraction(1, 44100)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))

    with pytest.raises(InvalidVideo, match="holds no video stream"):
        analyze_video(path)


def test_a_still_image_is_an_invalid_video(videos: Path, tmp_path: Path) -> None:
    poster = analyze_video(make(videos, "probe.mp4", seconds=6, width=320, height=180, fps=25)).artifacts[0]
    path = tmp_path / "photo.mp4"
    path.write_bytes(poster.data)

    with pytest.raises(InvalidVideo, match="1 decodable frame"):
        analyze_video(path)


def test_a_frame_without_a_time_base_still_makes_a_poster() -> None:
    # Decoders may hand back frames with no time base; the poster encoder then picks its own.
    frame = av.VideoFrame.from_ndarray(np.zeros((90, 160, 3), dtype=np.uint8), format="rgb24")
    assert frame.time_base is None
    data, width, height = jpeg(frame)
    assert data.startswith(b"\xff\xd8")
    assert (width, height) == (160, 90)


# --- the contract ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../other-job/poster.jpg", "a/b.png", ".hidden", "", "x" * 101])
def test_an_artifact_name_is_a_plain_file_name(name: str) -> None:
    with pytest.raises(ValueError, match="is not a plain file name"):
        Artifact(name, b"data", "image/png")


def test_a_result_must_be_strict_json_under_64_kib() -> None:
    check_result_size({"timeline": [1.5] * 8000})
    with pytest.raises(
        ResultTooLarge, match=r"^the result is 70014 bytes of JSON; at most 65536 are stored$"
    ):
        check_result_size({"timeline": [1.5] * 14000})
    with pytest.raises(ValueError, match="Out of range float"):
        check_result_size({"peak": float("nan")})
