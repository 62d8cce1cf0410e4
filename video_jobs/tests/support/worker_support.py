"""What the tests that drive a Worker in-process share: an analyzer that records its calls, a fresh read of
a job, and time passing over a retry's backoff."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from video_jobs.analysis import Analysis, Artifact, JobInfo, ProgressCallback
from video_jobs.clock import DatabaseNow
from video_jobs.models import VideoAnalysisJob
from video_jobs.worker.loop import Worker

Job = VideoAnalysisJob
QueueJob = Callable[..., VideoAnalysisJob]
MakeWorker = Callable[..., Worker]


class Recorder:
    """An analyzer that records each call and what the job looked like in the database meanwhile."""

    def __init__(
        self,
        then: Callable[[Path, JobInfo, ProgressCallback], Any] | None = None,
        artifacts: tuple[Artifact, ...] = (),
    ) -> None:
        self.calls: list[dict[str, Any]] = []
        self.then = then
        self.artifacts = artifacts

    def __call__(self, path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
        row = Job.objects.get(pk=job.pk)
        self.calls.append(
            {
                "job": job.pk,
                "path": path,
                "exists": path.exists(),
                "stage": row.stage,
                "attempt": job.attempts,
            }
        )
        if self.then is not None:
            self.then(path, job, progress)
        return Analysis(result={"bytes": path.stat().st_size}, artifacts=self.artifacts)


def fresh(job: VideoAnalysisJob | JobInfo) -> VideoAnalysisJob:
    return Job.objects.get(pk=job.pk)


def make_claimable(job: VideoAnalysisJob | JobInfo) -> None:
    """Time passes: the retry's backoff is over, by the database's clock (which the claim reads: on SQLite
    to the millisecond, so this process's own now could still lie a fraction of a millisecond ahead)."""
    Job.objects.filter(pk=job.pk).update(run_after=DatabaseNow())
