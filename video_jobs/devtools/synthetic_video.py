"""Real videos made with PyAV, for the tests and the README's demo (``manage.py make_test_video``).

A still, textured field with a pitch, where a bright player crosses the frame in bursts: BURST_SECONDS of
strong motion starting BURST_OFFSET seconds into every BURST_PERIOD. The analysis should find exactly those
bursts as its high-activity segments, so tests can compare what it found with what was drawn.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

BURST_PERIOD = 8.0
BURST_OFFSET = 3.0
BURST_SECONDS = 2.0

# Encoders by file suffix; each ships in PyAV's wheels. ultrafast keeps a ten-minute video quick to make.
_ENCODERS: dict[str, tuple[str, dict[str, str]]] = {
    ".mp4": ("libx264", {"preset": "ultrafast"}),
    ".mov": ("libx264", {"preset": "ultrafast"}),
    ".mkv": ("libx264", {"preset": "ultrafast"}),
    ".webm": ("libvpx", {"deadline": "realtime", "cpu-used": "8"}),
    ".avi": ("mpeg4", {"b": "2000000"}),  # its default 200 kb/s smears the field
}


def burst_windows(seconds: float) -> list[tuple[float, float]]:
    """The (start, end) times, in seconds, of the bursts of motion in a video of this length."""
    windows = []
    start = BURST_OFFSET
    while start < seconds:
        windows.append((start, min(start + BURST_SECONDS, seconds)))
        start += BURST_PERIOD
    return windows


def _field(width: int, height: int) -> NDArray[Any]:
    """The still background: mown grass stripes with a little texture and a lighter pitch in the middle."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    green = 110 + 18 * np.sign(np.sin(xx * 12 / width)) + 10 * np.sin(xx / 3.1) * np.cos(yy / 2.3)
    frame = np.zeros((height, width, 3), dtype=np.float32)
    frame[..., 0] = green * 0.35
    frame[..., 1] = green
    frame[..., 2] = green * 0.3
    pitch = (np.abs(xx - width / 2) < width / 12) & (np.abs(yy - height / 2) < height / 3)
    frame[pitch] = (196, 170, 120)
    return np.clip(frame, 0, 255).astype(np.uint8)


def write_test_video(
    path: Path,
    *,
    seconds: float = 12.0,
    width: int = 320,
    height: int = 180,
    fps: int = 25,
    grain: int = 0,
    crf: int | None = None,
) -> Path:
    """Encode a video of ``seconds`` to ``path`` (the suffix picks the container and codec).

    ``grain`` adds per-frame noise of that amplitude (0-255), like a real camera sensor: it makes the file
    large and incompressible, which is what a memory test wants. ``crf`` sets the x264 quality (lower is
    larger). Memory use is one frame at a time whatever the length.
    """
    suffix = path.suffix.lower()
    if suffix not in _ENCODERS:
        raise ValueError(f"unsupported suffix {suffix!r}; use one of {', '.join(sorted(_ENCODERS))}")
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError("width and height must be even and at least 16 (4:2:0 video)")
    codec, options = _ENCODERS[suffix]
    if crf is not None:
        options = {**options, "crf": str(crf)}
    player_w, player_h = max(4, width // 10), max(6, height // 3)
    top = height // 2 - player_h // 2

    def draw(image: NDArray[Any], t: float) -> None:
        phase = (t % BURST_PERIOD) - BURST_OFFSET
        if 0 <= phase < BURST_SECONDS:
            # The player runs the width of the frame during the burst.
            left = int(phase / BURST_SECONDS * (width + player_w)) - player_w
            image[top : top + player_h, max(0, left) : max(0, left + player_w)] = (250, 250, 240)

    return _encode(
        path, codec, options, width=width, height=height, fps=fps, seconds=seconds, grain=grain, draw=draw
    )


def _encode(
    path: Path,
    codec: str,
    options: dict[str, str],
    *,
    width: int,
    height: int,
    fps: int,
    seconds: float,
    grain: int,
    draw: Callable[[NDArray[Any], float], None],
) -> Path:
    """Encode ``seconds`` of the field to ``path``, one frame at a time: ``draw`` paints what moves onto
    each frame's copy of the field (given the frame's time in seconds), then ``grain`` adds sensor noise."""
    field = _field(width, height)
    rng = np.random.default_rng(7)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = dict[str, object](options)
        for index in range(round(seconds * fps)):
            image = field.copy()
            draw(image, index / fps)
            if grain:
                noise = rng.integers(-grain, grain + 1, size=image.shape[:2], dtype=np.int16)
                image = np.clip(image + noise[..., None], 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# Padding is written in blocks of this size (random once, then repeated).
_PAD_BLOCK = 8 * 1024 * 1024


def pad_video(path: Path, size: int) -> None:
    """Grow the MP4 at ``path`` to exactly ``size`` bytes with a trailing ``free`` box, which players and
    PyAV skip: a large file that is still a real video. Past 4 GiB the box uses its 64-bit size field."""
    padding = size - path.stat().st_size
    large = padding > 0xFFFFFFFF
    header = struct.pack(">I4sQ", 1, b"free", padding) if large else struct.pack(">I4s", padding, b"free")
    if padding < len(header):
        raise ValueError(f"{size} bytes is smaller than the clip itself")
    with path.open("ab") as handle:
        handle.write(header)
        left = padding - len(header)
        block = os.urandom(min(_PAD_BLOCK, left))  # incompressible, like real video data
        while left > 0:
            handle.write(block[:left])
            left -= min(len(block), left)


def astronaut() -> NDArray[Any]:
    """A real person: scikit-image's ``astronaut`` (Eileen Collins, a public-domain NASA photograph shipped
    inside the scikit-image wheel, a test dependency), 512x512 RGB."""
    from skimage import data

    image: NDArray[Any] = data.astronaut()  # type: ignore[no-untyped-call]
    return image


def write_person_video(
    path: Path,
    person: NDArray[Any] | None,
    *,
    seconds: float = 3.0,
    width: int = 320,
    height: int = 180,
    fps: int = 10,
    grain: int = 0,
    crf: int | None = None,
) -> Path:
    """Encode ``person`` (an RGB picture, e.g. ``astronaut()``), scaled to 80% of the frame's height,
    crossing the field from the left edge to the right over ``seconds``: ``person_centre`` says where it is
    at any time. ``person`` None: the empty field, nobody in it. H.264 in MP4; ``grain`` and ``crf`` as in
    ``write_test_video`` (a phone's bitrate, for benchmarks)."""
    if width % 2 or height % 2:
        raise ValueError("width and height must be even (4:2:0 video)")
    sprite = None
    if person is not None:
        side = round(height * 0.8)
        # Nearest-neighbour scaling by index: enough for a test picture, and no imaging library needed.
        rows = np.arange(side) * person.shape[0] // side
        cols = np.arange(side) * person.shape[1] // side
        sprite = person[rows][:, cols, :3]

    def draw(image: NDArray[Any], t: float) -> None:
        if sprite is not None:
            x, y = person_centre(t, seconds, width, height)
            side = sprite.shape[0]
            left, top = round(x) - side // 2, round(y) - side // 2
            image[top : top + side, left : left + side] = sprite

    options = {"preset": "ultrafast", **({"crf": str(crf)} if crf is not None else {})}
    return _encode(
        path, "libx264", options, width=width, height=height, fps=fps, seconds=seconds, grain=grain, draw=draw
    )


def person_centre(t: float, seconds: float, width: int, height: int) -> tuple[float, float]:
    """Where ``write_person_video`` puts the centre of the person's picture at ``t`` seconds, in pixels:
    it moves from its left edge touching the frame's left to its right edge touching the frame's right."""
    side = round(height * 0.8)
    travel = width - side
    return side / 2 + travel * min(1.0, t / seconds), height / 2
