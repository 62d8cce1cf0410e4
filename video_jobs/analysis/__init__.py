"""Video analysis: the analyzer contract and the default PyAV analyzer.

An analyzer is any callable ``analyzer(path, *, job, progress) -> Analysis``, named by the dotted path in
``settings.VIDEO_JOBS_ANALYZER``. It gets the downloaded file, the job (a ``JobInfo``: a copy of a few
fields, not the row), and a progress callback taking the fraction done (0.0-1.0). It raises InvalidVideo for
a file that is not a decodable video (the job fails as ``invalid_video``, no retry) and VideoLimitsExceeded
for one over the worker's limits (``video_limits_exceeded``, no retry); any other exception counts as
transient and is retried. The progress callback may raise JobInterrupted (the worker lost its lease or is
shutting down): let it through. The worker runs it in a confined child process
(``video_jobs/worker/sandbox.py``) that has no Django settings and no database: what it needs of the
configuration comes from ``config.current()``, and its module imports no models.

Rooms: ``contract`` (what an analyzer gets, returns and raises; the no-op analyzer), ``config`` (the
settings an analysis may read, in any process), ``limits`` (frame size, duration, decoder threads; which
FFmpeg errors are the data's fault), ``motion`` (the bounded motion timeline and segments), ``poster`` (the
JPEG), ``pose`` (BlazePose on sampled frames: the bounded track, the angle timelines, the picture),
``skeleton`` (landmark names, bones, angle maths, drawing), ``video`` (``analyze_video``, the one streaming
pass). mediapipe and OpenCV are imported only where pose runs.
"""

from .contract import (
    MAX_RESULT_BYTES,
    Analysis,
    Analyzer,
    Artifact,
    InvalidVideo,
    JobInfo,
    JobInterrupted,
    ProgressCallback,
    ResultTooLarge,
    VideoLimitsExceeded,
    check_result_size,
    noop_analyzer,
)
from .limits import Limits
from .video import analyze_video

__all__ = [
    "MAX_RESULT_BYTES",
    "Analysis",
    "Analyzer",
    "Artifact",
    "InvalidVideo",
    "JobInfo",
    "JobInterrupted",
    "Limits",
    "ProgressCallback",
    "ResultTooLarge",
    "VideoLimitsExceeded",
    "analyze_video",
    "check_result_size",
    "noop_analyzer",
]
