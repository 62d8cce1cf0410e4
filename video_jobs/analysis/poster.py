"""The poster frame: a JPEG of one frame, encoded with PyAV's own MJPEG encoder."""

from __future__ import annotations

from fractions import Fraction

import av

POSTER_MAX_WIDTH = 640
POSTER_NAME = "poster.jpg"


def jpeg(frame: av.VideoFrame) -> tuple[bytes, int, int]:
    """Encode one frame as a JPEG no wider than POSTER_MAX_WIDTH; returns (data, width, height)."""
    width = min(frame.width, POSTER_MAX_WIDTH)
    height = max(2, round(frame.height * width / frame.width / 2) * 2)
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
    encoder.time_base = frame.time_base or Fraction(1, 25)
    # One thread: an encoder's thread pool would cost more address space (the analysis child's memory
    # limit) than one small picture is worth.
    encoder.thread_count = 1
    # A fixed quantiser of 3: visually clean, a few tens of kilobytes at 640 pixels.
    encoder.qmin = encoder.qmax = 3
    image = frame.reformat(width=width, height=height, format="yuvj420p")
    data = b"".join(bytes(packet) for packet in [*encoder.encode(image), *encoder.encode(None)])
    return data, width, height
