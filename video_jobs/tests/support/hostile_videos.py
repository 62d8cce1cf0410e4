"""Hostile uploads, made with PyAV: the files that once bloated, hung or killed a worker (issue 10)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from video_jobs.devtools.synthetic_video import write_test_video


def _frame(seconds: float, width: int, height: int) -> av.VideoFrame:
    """A flat frame whose shade follows its time: two videos with a frame at the same time show the same."""
    shade = round(seconds * 150) % 256
    return av.VideoFrame.from_ndarray(np.full((height, width, 3), shade, np.uint8), format="rgb24")


def timestamp_gap_matroska(path: Path, *, times: list[float], declare_duration: bool = True) -> Path:
    """A few small H.264 frames at ``times`` (seconds): one large leap makes a tiny file "last" for weeks.
    Without ``declare_duration`` the muxer writes as for a live stream: no duration in the header, so only
    the decoded timestamps tell."""
    options = {} if declare_duration else {"live": "1"}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"preset": "ultrafast", "bframes": "0"}
        stream.time_base = Fraction(1, 1000)
        for seconds in times:
            frame = _frame(seconds, 64, 48)
            frame.pts, frame.time_base = round(seconds * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def backwards_matroska(path: Path, *, times: list[float]) -> Path:
    """Intra-only frames whose timestamps go back and forth (``times``, seconds), in decoding order."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.gop_size = 1
        # A fixed fine quantiser: a frame decodes the same whatever came before it.
        stream.codec_context.qmin = stream.codec_context.qmax = 2
        stream.time_base = Fraction(1, 1000)
        for index, seconds in enumerate(times):
            frame = _frame(seconds, 64, 48).reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            for packet in stream.encode(frame):
                # Decoding order stays monotonic (dts), presentation times jump around (pts >= dts).
                packet.time_base = Fraction(1, 1000)
                packet.dts, packet.pts = index, round(seconds * 1000)
                container.mux(packet)
    return path


def huge_h264(path: Path, *, width: int = 16384, height: int = 8192, frames: int = 3) -> Path:
    """A few blank frames of ``width`` x ``height``: a file of about a megabyte whose every decoded frame
    takes 200 MB. x264's lightest settings keep making it to about a second and a gigabyte."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(1))
        stream.width, stream.height, stream.pix_fmt = width, height, "gray"
        stream.options = {
            "preset": "ultrafast",
            "crf": "51",
            "x264-params": "threads=1:ref=1:bframes=0:rc-lookahead=0:sync-lookahead=0:mbtree=0:keyint=1",
        }
        frame = av.VideoFrame(width, height, "gray")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for index in range(frames):
            frame.pts, frame.time_base = index, Fraction(1)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def webm_without_duration(path: Path, *, seconds: float = 4.0) -> Path:
    """A WebM as a browser's MediaRecorder writes it: streamed, so its header carries no duration."""
    recorded = write_test_video(path.with_suffix(".recorded.webm"), seconds=seconds, width=160, height=90)
    with (
        av.open(str(recorded)) as source,
        av.open(str(path), "w", format="webm", options={"live": "1"}) as out,
    ):
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    recorded.unlink()
    return path


def truncated(data: bytes) -> bytes:
    """The first half of a video, as an interrupted copy leaves it (an MP4's index is at its end)."""
    return data[: len(data) // 2]


def random_bytes(size: int = 50_000) -> bytes:
    return np.random.default_rng(10).bytes(size)
