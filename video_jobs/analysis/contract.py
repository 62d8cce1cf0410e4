"""The analyzer contract: what an analyzer is given, what it returns, and the errors it may raise."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..models import VideoAnalysisJob

ProgressCallback = Callable[[float], None]

# The largest ``result`` a job may store, as JSON: every GET of the job sends it back.
MAX_RESULT_BYTES = 64 * 1024
# An artifact is stored at videos/<job id>/<name>: a plain file name, never a path.
_ARTIFACT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class InvalidVideo(Exception):
    """The file is not a decodable video: the job fails as ``invalid_video`` without a retry.

    Its message is the client's ``error_message``: say what is wrong with the file in the client's terms,
    never a path or an internal name; chain the underlying error (``raise ... from exc``), which staff see.
    """


class VideoLimitsExceeded(Exception):
    """The video is larger or longer than the worker accepts (VIDEO_JOBS_MAX_PIXELS,
    VIDEO_JOBS_MAX_DURATION_SECONDS): the job fails as ``video_limits_exceeded`` without a retry. The
    message says which limit and the value found."""


class JobInterrupted(BaseException):
    """Raised by the progress callback when the worker must drop the job (lease lost, shutdown grace over).

    A BaseException, like KeyboardInterrupt, so that an analyzer's ``except Exception`` cannot swallow it.
    """


class ResultTooLarge(Exception):
    """The analyzer's result would make the stored ``result`` larger than MAX_RESULT_BYTES: an analyzer
    bug, retried like any other."""


@dataclass(frozen=True)
class Artifact:
    """A file the worker stores beside the video, at ``videos/<job id>/<name>``."""

    name: str
    data: bytes
    content_type: str

    def __post_init__(self) -> None:
        if not _ARTIFACT_NAME.fullmatch(self.name):
            raise ValueError(f"artifact name {self.name[:120]!r} is not a plain file name")


@dataclass(frozen=True)
class Analysis:
    """What an analyzer returns: the JSON-serialisable result, and artifacts for the worker to store."""

    result: dict[str, Any]
    artifacts: tuple[Artifact, ...] = field(default=())


@dataclass(frozen=True)
class JobInfo:
    """What an analyzer is told of its job: a copy of a few fields, never the database row (the analysis
    process has no database, and no Django settings, to read it with)."""

    id: uuid.UUID
    worker_id: str
    attempts: int
    max_attempts: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str

    @property
    def pk(self) -> uuid.UUID:
        return self.id

    @classmethod
    def of(cls, job: VideoAnalysisJob) -> JobInfo:
        return cls(
            id=job.pk,
            worker_id=job.worker_id,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            filename=job.filename,
            content_type=job.content_type,
            size_bytes=job.size_bytes,
            sha256=job.sha256,
        )


class Analyzer(Protocol):
    def __call__(self, path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis: ...


def check_result_size(result: dict[str, Any]) -> None:
    """Refuse a result that is not strict JSON (NaN has no JSON spelling) or larger than MAX_RESULT_BYTES."""
    size = len(json.dumps(result, allow_nan=False).encode())
    if size > MAX_RESULT_BYTES:
        raise ResultTooLarge(f"the result is {size} bytes of JSON; at most {MAX_RESULT_BYTES} are stored")


def noop_analyzer(
    path: Path | None, *, job: JobInfo | None = None, progress: ProgressCallback | None = None
) -> Analysis:
    """Analyses nothing and needs no video: the worker skips the download and finishes the job at once.

    For measuring the queue itself (claim, lease, finish: ``bench/queue_throughput.py``) and for checking a
    deployment's plumbing; never a production analyzer.
    """
    return Analysis(result={"analyzer": "noop"})


# Read by the worker: an analyzer with needs_video False is called with path None, without a download and
# in the worker's own process (it touches no upload, so it needs no child process to contain it).
noop_analyzer.needs_video = False  # type: ignore[attr-defined]
