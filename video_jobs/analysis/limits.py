"""What the default analyzer accepts (frame size, duration, decoder threads), and which FFmpeg errors mean
"not a video we can decode" rather than a fault of this machine.

Headers can lie, so every limit is checked twice: on what the container declares, before a frame is
decoded, and on the decoded frames themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import av.error

from . import config
from .contract import VideoLimitsExceeded

# FFmpeg errors that are faults of this machine, not of the data: out of memory (the child's memory limit
# included), I/O and other operating-system errors, a failing Python callback, an interrupted call. They
# go through as they are and are retried; every other FFmpeg error means the data is not a video we can
# decode (invalid_video, no retry).
_MACHINE_FAULTS = (MemoryError, OSError, av.error.PyAVCallbackError, av.error.ExitError)


def is_machine_fault(exc: av.error.FFmpegError) -> bool:
    return isinstance(exc, _MACHINE_FAULTS)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h ({seconds:.0f} s)"


@dataclass(frozen=True)
class Limits:
    """The limits one analysis runs under (from the analysis settings unless a caller chooses its own)."""

    max_pixels: int
    max_duration_seconds: float
    decoder_threads: int

    @classmethod
    def from_settings(cls) -> Limits:
        """From ``config.current()``: Django's settings, or in the analysis process what the worker sent."""
        current = config.current()
        return cls(
            max_pixels=current.max_pixels,
            max_duration_seconds=current.max_duration_seconds,
            decoder_threads=current.decoder_threads,
        )

    def codec_options(self) -> dict[str, str]:
        """Options for FFmpeg's decoder, while probing and decoding: with ``max_pixels`` it refuses to
        allocate a larger frame at all (a 16384x8192 frame is 200 MB before it could be checked here)."""
        return {"max_pixels": str(self.max_pixels)}

    def check_frame_size(self, width: int, height: int, *, seen: str) -> None:
        """``seen``: where the size comes from ("declared", "decoded")."""
        pixels = width * height
        if pixels > self.max_pixels:
            raise VideoLimitsExceeded(
                f"frame size: {seen} frames of {width}x{height} ({pixels} pixels); "
                f"the limit is {self.max_pixels} pixels"
            )

    def check_duration(self, seconds: float, *, seen: str) -> None:
        if seconds > self.max_duration_seconds:
            raise VideoLimitsExceeded(
                f"duration: {seen} {_hours(seconds)}; the limit is {_hours(self.max_duration_seconds)}"
            )
