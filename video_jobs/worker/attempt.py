"""One claimed attempt at a job: download, analyse (in a limited child process: ``sandbox.py``), store,
settle.

Every write about the job goes through a fenced service (``id``, ``status='processing'``, ``worker_id``,
``attempts``), so an attempt whose lease was lost writes nothing. Two threads share an attempt: the main
thread runs it, the heartbeat thread (``heartbeat.py``) renews its lease, flushes held-back progress, and
hands the job back when a shutdown's grace period runs out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from django.db import connection

from .. import services
from ..analysis import (
    Analysis,
    Analyzer,
    InvalidVideo,
    JobInfo,
    JobInterrupted,
    ProgressCallback,
    VideoLimitsExceeded,
    check_result_size,
)
from ..daemon.skeleton import DATABASE_ERRORS
from ..models import ErrorCode, JobStage, VideoAnalysisJob
from ..ops import metrics
from ..s3 import storage
from .housekeeping import temporary_download
from .sandbox import AnalysisCrashed, AnalysisTimeout, AnalyzerError, Sandbox

logger = logging.getLogger(__package__)

Stage = VideoAnalysisJob.Stage
T = TypeVar("T")

# Each stage's share of the job's 0-100 progress.
_PROGRESS_BANDS = {
    Stage.DOWNLOADING: (0, 30),
    Stage.ANALYZING: (30, 90),
    Stage.STORING_RESULTS: (90, 99),
}


class ChecksumMismatch(Exception):
    """The downloaded bytes do not hash to the sha256 the client declared."""


# What the client reads in error_message is said here, in its terms; what happened in ours (endpoints,
# buckets, hosts, temporary paths) goes to error_detail and the log (see services.machinery.error_fields).

# Failures that no retry can mend, the stable code each ends with, and what the client is told. None: the
# exception's own message, written for the client (a checksum mismatch; an analyzer's InvalidVideo; the
# limit a video exceeds and the value found).
_PERMANENT: tuple[tuple[type[Exception], ErrorCode, str | None], ...] = (
    (storage.ObjectMissing, ErrorCode.UPLOAD_MISSING, "The video is no longer in storage."),
    (storage.ObjectChanged, ErrorCode.UPLOAD_CHANGED, "The video was replaced after it was verified."),
    (ChecksumMismatch, ErrorCode.UPLOAD_CHECKSUM_MISMATCH, None),
    (InvalidVideo, ErrorCode.INVALID_VIDEO, None),
    (VideoLimitsExceeded, ErrorCode.VIDEO_LIMITS_EXCEEDED, None),
)
# Failures of the analysis child that count an attempt and are retried (another machine may do better),
# and the code a job ends with when they used up its attempts.
_RETRIED_UNTIL: tuple[tuple[type[Exception], ErrorCode], ...] = (
    (AnalysisTimeout, ErrorCode.ANALYSIS_TIMEOUT),
    (AnalysisCrashed, ErrorCode.ANALYSIS_CRASHED),
)
# Failures expected to mend on a retry, and what the client is told.
_TRANSIENT: tuple[tuple[tuple[type[Exception], ...], str], ...] = (
    ((storage.StorageUnavailable,), "Storage was temporarily unavailable."),
    (DATABASE_ERRORS, "A temporary database error interrupted processing."),
    ((AnalysisTimeout,), "The analysis ran out of time."),
    ((AnalysisCrashed,), "The analysis stopped unexpectedly (it crashed or ran out of memory)."),
)
# Anything else is retried too, but logged as the bug it likely is.
_UNEXPECTED = "An unexpected error interrupted the analysis."


def describe(exc: BaseException) -> str:
    """The whole story of a failure, for staff and the log: the exception and what caused it."""
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    return f"{text} (caused by {type(cause).__name__}: {cause})" if cause is not None else text


def write_reconnecting(call: Callable[[], T]) -> T:
    """A fenced write that survives one dropped connection: reconnect and try again once."""
    try:
        return call()
    except DATABASE_ERRORS as exc:
        logger.warning("database connection lost (%s); reconnecting", exc)
        connection.close()
        return call()


def hand_back(job: VideoAnalysisJob) -> None:
    """Return a job this worker will not finish to the queue, without counting the attempt."""
    try:
        services.release_job(job=job)
    except DATABASE_ERRORS as exc:
        logger.warning("job %s: could not hand it back (%s); its lease will bring it back", job.pk, exc)
        connection.close()


def needs_video(analyzer: Analyzer) -> bool:
    """False for an analyzer that touches no upload (``needs_video = False``): it gets no download, and runs
    in the worker's own process."""
    return bool(getattr(analyzer, "needs_video", True))


class Attempt:
    """The job, what the heartbeat needs to watch it, and the pipeline that runs it (``run()``).

    Progress reports are coalesced: at most one write per ``progress_interval`` seconds; a report held
    back is marked pending and rides along with the next write or lease renewal.
    """

    def __init__(
        self,
        job: VideoAnalysisJob,
        *,
        analyzer: Analyzer,
        sandbox: Sandbox | None,
        lease_seconds: int,
        progress_interval: float,
    ) -> None:
        now = time.monotonic()
        self.job = job
        self.analyzer = analyzer
        # Where the analyzer runs: a child of the sandbox, or (None) this process.
        self.sandbox = sandbox
        self.lease_seconds = lease_seconds
        self.stage: str = job.stage
        self.progress: int = job.progress
        self.pending = False
        self.progress_interval = progress_interval
        self.last_write = now  # the claim itself wrote stage and progress
        self.renew_at = now + lease_seconds / 3
        # When a stop was requested: the moment the job is handed back unless it finished (monotonic).
        self.stop_deadline: float | None = None
        self.interrupted = ""
        self.temp_path = ""

    # --- shared with the heartbeat thread ------------------------------------------------------------------

    def interrupt(self, reason: str) -> None:
        self.interrupted = self.interrupted or reason

    def check(self) -> None:
        if self.interrupted:
            raise JobInterrupted(self.interrupted)

    def report(self, stage: JobStage, fraction: float) -> None:
        """The progress callback (main thread). Raises JobInterrupted once the job is no longer ours."""
        self.check()
        low, high = _PROGRESS_BANDS[stage]
        progress = low + int((high - low) * min(max(fraction, 0.0), 1.0))
        if (stage, progress) == (self.stage, self.progress):
            return
        self.stage, self.progress = stage, progress
        if time.monotonic() - self.last_write < self.progress_interval:
            self.pending = True
            return
        try:
            self._write_progress()
        except DATABASE_ERRORS as exc:
            # Progress is not worth failing a job over; the heartbeat or the finish will write again.
            logger.warning("job %s: progress not recorded, database unavailable: %s", self.job.pk, exc)
            connection.close()
            self.pending = True

    def confirm(self, stage: JobStage) -> None:
        """Enter ``stage`` with a fenced write at once: proof that the job is still ours. Raises
        JobInterrupted when it is not, and the database's error when the write could not be made."""
        self.check()
        self.stage, self.progress = stage, _PROGRESS_BANDS[stage][0]
        self._write_progress()

    def _write_progress(self) -> None:
        ours = services.report_progress(job=self.job, stage=self.stage, progress=self.progress)
        self.last_write = time.monotonic()
        self.pending = False
        if not ours:
            self.interrupt("lease lost to another worker")
            self.check()

    # --- the pipeline (main thread) ------------------------------------------------------------------------

    def run(self, *, claim_next: Callable[[], bool]) -> VideoAnalysisJob | None:
        """Run the job to its end: done, failed, queued for a retry, or dropped (lease lost).

        When ``claim_next()`` allows it at the finish, the finish also claims the worker's next job (one
        statement on PostgreSQL), which is returned.
        """
        job = self.job
        started = time.monotonic()
        next_job = None
        try:
            analysis, download = self._download_and_analyse()
            if not isinstance(analysis, Analysis):
                raise TypeError(f"the analyzer returned {type(analysis).__name__}, not an Analysis")
            result = self._result(analysis, download)
            check_result_size(result)
            if analysis.artifacts:
                # Artifacts go to fixed keys beside the video: store them only after a fenced write that
                # went through, so a worker that lost its lease (and perhaps its database) does not
                # overwrite the files of the job's new owner.
                if not self._lease_confirmed():
                    hand_back(job)
                    return None
                self._store_artifacts(analysis)
            else:
                self.report(Stage.STORING_RESULTS, 0.0)
            self.check()
            if claim_next():
                done, next_job = write_reconnecting(
                    lambda: services.finish_job_and_claim_next(
                        job=job, result=result, lease_seconds=self.lease_seconds
                    )
                )
            else:
                done = write_reconnecting(lambda: services.finish_job(job=job, result=result))
        except JobInterrupted as exc:
            logger.warning("job %s dropped without writing: %s", job.pk, exc)
            return None
        except Exception as exc:
            self._settle_failure(exc)
            return None
        if done:
            # One INFO line per job, at its end (a line costs about 25 µs here, 2% of a no-op job's
            # round trip); the claim's own line is DEBUG.
            logger.info(
                "job %s done in %.2fs (attempt %s of %s)",
                job.pk,
                time.monotonic() - started,
                job.attempts,
                job.max_attempts,
            )
        else:
            logger.warning("job %s: finished, but another worker owns it now; result discarded", job.pk)
        return next_job

    def _lease_confirmed(self) -> bool:
        try:
            write_reconnecting(lambda: self.confirm(Stage.STORING_RESULTS))
        except DATABASE_ERRORS as exc:
            logger.warning(
                "job %s: could not confirm the lease before storing artifacts (%s); handing the job back",
                self.job.pk,
                exc,
            )
            connection.close()
            return False
        return True

    def _analyse(self, path: Path, progress: ProgressCallback) -> Analysis:
        job = JobInfo.of(self.job)
        if self.sandbox is None:
            return self.analyzer(path, job=job, progress=progress)
        return self.sandbox.run(self.analyzer, path, job=job, progress=progress, check=self.check)

    def _download_and_analyse(self) -> tuple[Analysis, storage.Download | None]:
        job = self.job

        def progress(fraction: float) -> None:
            self.report(Stage.ANALYZING, fraction)

        if not needs_video(self.analyzer):
            return self.analyzer(None, job=JobInfo.of(job), progress=progress), None  # type: ignore[arg-type]
        size = max(1, job.object_size or job.size_bytes)
        # The temporary file goes away when this block ends, however it ends.
        with temporary_download(job.pk) as handle:
            self.temp_path = handle.name
            try:
                download = storage.download(
                    bucket=job.s3_bucket,
                    key=job.s3_key,
                    destination=handle,
                    if_match=job.object_etag,
                    on_progress=lambda written: self.report(Stage.DOWNLOADING, written / size),
                )
                if job.sha256 and download.sha256 != job.sha256.lower():
                    raise ChecksumMismatch(
                        f"The uploaded bytes hash to {download.sha256}; {job.sha256} was declared."
                    )
                self.report(Stage.ANALYZING, 0.0)
                analysis = self._analyse(Path(handle.name), progress)
            finally:
                self.temp_path = ""
        return analysis, download

    def _store_artifacts(self, analysis: Analysis) -> None:
        for artifact in analysis.artifacts:
            self.check()  # a worker that lost the job must not overwrite the new owner's files either
            key = storage.artifact_key(self.job.pk, artifact.name)
            storage.put_artifact(
                bucket=self.job.s3_bucket, key=key, data=artifact.data, content_type=artifact.content_type
            )

    def _result(self, analysis: Analysis, download: storage.Download | None) -> dict[str, Any]:
        """The result to store: the analyzer's, where its artifacts are, and what was downloaded."""
        job = self.job
        artifacts = {
            artifact.name: {
                "key": storage.artifact_key(job.pk, artifact.name),
                "content_type": artifact.content_type,
                "size_bytes": len(artifact.data),
            }
            for artifact in analysis.artifacts
        }
        result = {**analysis.result, "artifacts": artifacts}
        if download is not None:
            result["source"] = {
                "size_bytes": download.size,
                "sha256": download.sha256,
                "etag": job.object_etag,
            }
        return result

    def _settle_failure(self, exc: Exception) -> None:
        """Fail the job at once for a permanent error; else queue it for a retry, or fail it with its
        give-up code (attempts_exhausted, analysis_timeout, analysis_crashed) when no attempt is left."""
        job = self.job
        detail = describe(exc)
        code, message = next(
            ((code, said or str(exc)) for kind, code, said in _PERMANENT if isinstance(exc, kind)),
            (None, ""),
        )
        give_up = next((code for kind, code in _RETRIED_UNTIL if isinstance(exc, kind)), None)
        if code is None:
            message = next((said for kinds, said in _TRANSIENT if isinstance(exc, kinds)), "")
        if isinstance(exc, AnalyzerError):
            # The analyzer raised in its child: the same bug as below, with the child's traceback.
            message = _UNEXPECTED
            logger.error("job %s: unexpected error in the analysis: %s\n%s", job.pk, detail, exc.details)
        elif not message:
            # Not a known failure: an analyzer bug or a fault of this machine. Retried all the same (ending
            # as attempts_exhausted), with the traceback for whoever reads the logs.
            message = _UNEXPECTED
            logger.error("job %s: unexpected error: %s", job.pk, detail, exc_info=exc)
        if code is ErrorCode.UPLOAD_MISSING and self.stage == Stage.DOWNLOADING:
            # Only verified uploads are queued, so a 404 on the download means the verification gate leaked
            # (or the object was deleted): the number operators watch, which must stay 0. The stage tells
            # the download's 404 from one met while storing artifacts (a claim starts at DOWNLOADING).
            metrics.record_event(metrics.DOWNLOAD_MISSING)
        try:
            if code is not None:
                permanent = code
                moved = write_reconnecting(
                    lambda: services.fail_job(job=job, code=permanent, message=message, detail=detail)
                )
            elif isinstance(exc, storage.StorageMisconfigured):
                # This service's S3 settings or permissions, not the job: its attempts are not spent on it.
                moved = write_reconnecting(
                    lambda: services.postpone_job(job=job, message=message, detail=detail)
                )
            else:
                moved = write_reconnecting(
                    lambda: services.retry_job(
                        job=job,
                        message=message,
                        detail=detail,
                        give_up_code=give_up or ErrorCode.ATTEMPTS_EXHAUSTED,
                    )
                )
        except DATABASE_ERRORS as db_exc:
            logger.error(
                "job %s: could not record the failure (%s); its lease will bring it back", job.pk, db_exc
            )
            return
        if not moved:
            logger.warning("job %s: another worker owns it now; failure not recorded (%s)", job.pk, detail)
