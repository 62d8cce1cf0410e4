"""The default analyzer's limits: frames too large and videos too long are refused before a frame is
decoded, and again on what the decoded frames turn out to be; FFmpeg errors are the data's fault or the
machine's, decided in one place."""

from __future__ import annotations

from pathlib import Path

import av.error
import pytest
from django.test import override_settings

from video_jobs.analysis import Limits, VideoLimitsExceeded, analyze_video
from video_jobs.analysis.limits import is_machine_fault
from video_jobs.devtools.synthetic_video import write_test_video

from ..support.hostile_videos import timestamp_gap_matroska

# Three weeks of "video" in four frames: the leap the issue found in a 9.5 KB file.
LEAP = [0, 0.04, 0.08, 2_500_000]


def test_frames_larger_than_the_limit_are_refused_before_one_is_decoded(huge_video: Path) -> None:
    decoded: list[float] = []

    with pytest.raises(VideoLimitsExceeded) as refused:
        analyze_video(huge_video, progress=decoded.append)

    assert str(refused.value) == (
        "frame size: the container declares frames of 16384x8192 (134217728 pixels); "
        "the limit is 8847360 pixels"
    )
    assert decoded == []


def test_the_limits_are_settings(tmp_path: Path) -> None:
    path = write_test_video(tmp_path / "small.mp4", seconds=2, width=160, height=90, fps=10)
    assert analyze_video(path).result["video"]["width"] == 160

    with override_settings(VIDEO_JOBS_MAX_PIXELS=160 * 90 - 1), pytest.raises(VideoLimitsExceeded):
        analyze_video(path)
    with override_settings(VIDEO_JOBS_MAX_DURATION_SECONDS=1.5), pytest.raises(VideoLimitsExceeded):
        analyze_video(path)


def test_a_declared_duration_over_the_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    path = timestamp_gap_matroska(tmp_path / "leap.mkv", times=LEAP)

    with pytest.raises(
        VideoLimitsExceeded, match=r"^duration: the container declares 694\.44 h \(2500000 s\); "
    ):
        analyze_video(path)


def test_decoded_timestamps_over_the_limit_are_refused_when_the_header_says_nothing(tmp_path: Path) -> None:
    path = timestamp_gap_matroska(tmp_path / "leap.mkv", times=LEAP, declare_duration=False)

    with pytest.raises(VideoLimitsExceeded) as refused:
        analyze_video(path, limits=Limits(max_pixels=10**6, max_duration_seconds=3600, decoder_threads=1))

    assert str(refused.value) == (
        "duration: the decoded frames span 694.44 h (2500000 s); the limit is 1.00 h (3600 s)"
    )


def test_the_decoder_may_not_allocate_frames_over_the_limit() -> None:
    assert Limits(max_pixels=640 * 360, max_duration_seconds=60, decoder_threads=2).codec_options() == {
        "max_pixels": "230400"
    }


@pytest.mark.parametrize(
    ("error", "machine"),
    [
        (av.error.InvalidDataError, False),
        (av.error.DecoderNotFoundError, False),
        (av.error.PatchWelcomeError, False),
        (av.error.BugError, False),
        (av.error.ArgumentError, False),  # EINVAL: a size or parameter the data declares
        (av.error.EOFError, False),
        (av.error.MemoryError, True),  # ENOMEM: the memory limit, retried
        (av.error.BlockingIOError, True),  # EAGAIN: a thread or buffer the machine could not give
        (av.error.OSError, True),  # EIO
        (av.error.PermissionError, True),
    ],
)
def test_ffmpeg_errors_are_the_datas_fault_unless_they_are_the_machines(
    error: type[av.error.FFmpegError], machine: bool
) -> None:
    assert is_machine_fault(error(0, "from FFmpeg")) is machine
