"""What an analysis may know of the service's configuration, and how it reaches the analysis process.

The analysis process parses hostile bytes, so it never loads Django's settings (they hold the secret key,
the database URL and the S3 credentials). The worker copies the few settings an analysis needs into an
``AnalysisConfig`` and hands it to the process in its environment (``CRICKSY_ANALYSIS_CONFIG``, JSON); the
process installs it, and ``current()`` answers from it. In any other process (a worker running an analyzer
in-process, a test, the shell) ``current()`` reads Django's settings.

A setting a new analysis step needs (a pose sampling rate, a model option) is a field here, with its
Django setting named in ``from_settings``: nothing else reaches the analysis process.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

ENVIRONMENT_VARIABLE = "CRICKSY_ANALYSIS_CONFIG"


@dataclass(frozen=True)
class AnalysisConfig:
    """The analysis settings (see cricksy/settings.py and docs/operations.md for each)."""

    analyzer: str  # VIDEO_JOBS_ANALYZER
    max_pixels: int  # VIDEO_JOBS_MAX_PIXELS
    max_duration_seconds: float  # VIDEO_JOBS_MAX_DURATION_SECONDS
    decoder_threads: int  # VIDEO_JOBS_DECODER_THREADS
    pose_fps: float  # VIDEO_JOBS_POSE_FPS

    @classmethod
    def from_settings(cls) -> AnalysisConfig:
        from django.conf import settings

        return cls(
            analyzer=settings.VIDEO_JOBS_ANALYZER,
            max_pixels=settings.VIDEO_JOBS_MAX_PIXELS,
            max_duration_seconds=settings.VIDEO_JOBS_MAX_DURATION_SECONDS,
            decoder_threads=settings.VIDEO_JOBS_DECODER_THREADS,
            pose_fps=settings.VIDEO_JOBS_POSE_FPS,
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> AnalysisConfig:
        values: dict[str, Any] = json.loads(text)
        return cls(**values)


_installed: AnalysisConfig | None = None


def install(config: AnalysisConfig) -> None:
    """Make ``config`` what ``current()`` answers in this process (the analysis server does, at start)."""
    global _installed
    _installed = config


def current() -> AnalysisConfig:
    return _installed if _installed is not None else AnalysisConfig.from_settings()
