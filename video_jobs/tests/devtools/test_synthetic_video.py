"""make_test_video and the synthetic videos it writes: real, decodable, with the bursts where they say."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import av
import pytest
from django.core.management import CommandError, call_command

from video_jobs.devtools.synthetic_video import burst_windows


def test_burst_windows_start_three_seconds_into_every_eight_and_stop_at_the_end() -> None:
    assert burst_windows(2.0) == []
    assert burst_windows(12.0) == [(3.0, 5.0), (11.0, 12.0)]
    assert len(burst_windows(600.0)) == 75


@pytest.mark.parametrize(
    ("name", "codec"), [("demo.mp4", "h264"), ("demo.webm", "vp8"), ("demo.avi", "mpeg4")]
)
def test_make_test_video_writes_a_real_video_of_the_requested_shape(
    tmp_path: Path, name: str, codec: str
) -> None:
    out = StringIO()

    call_command(
        "make_test_video",
        str(tmp_path / name),
        "--seconds",
        "4",
        "--width",
        "96",
        "--height",
        "64",
        "--fps",
        "12",
        stdout=out,
    )

    assert "motion bursts at 3-4s" in out.getvalue()
    with av.open(str(tmp_path / name)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        assert (stream.codec_context.name, stream.width, stream.height) == (codec, 96, 64)
    assert len(frames) == 48
    # Before the burst the picture is still; during it, the player moves.
    gray = [frame.to_ndarray(format="gray").astype(int) for frame in frames]
    assert abs(gray[12] - gray[0]).mean() < 1
    assert abs(gray[42] - gray[40]).mean() > 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["clip.gif"], "unsupported suffix"),
        (["clip.mp4", "--width", "95"], "even"),
        (["clip.mp4", "--seconds", "0"], "positive"),
    ],
)
def test_make_test_video_refuses_what_it_cannot_encode(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    arguments[0] = str(tmp_path / arguments[0])
    with pytest.raises(CommandError, match=message):
        call_command("make_test_video", *arguments)
