"""The worker: claim a queued job, run it as an Attempt, recover; what a stop means to it.

``Worker.run_once()`` does one pass (recovery sweeps when due, then claim and process at most one job) and
returns whether it processed a job, so tests drive it step by step. ``Worker.run()`` is the daemon skeleton's
loop over it (``video_jobs.daemon.skeleton``: sleeping on NOTIFY or the poll interval, reconnecting, metrics,
signals); the worker adds its claim-ahead, its helpers and its shutdown grace period.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import time
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

from django.conf import settings
from django.utils.module_loading import import_string

from .. import services
from ..analysis import Analyzer
from ..daemon.skeleton import DATABASE_ERRORS, Daemon
from ..models import VideoAnalysisJob
from ..webhooks.retention import prune_deliveries
from .attempt import Attempt, hand_back, needs_video
from .heartbeat import Heartbeat
from .housekeeping import default_worker_id, logging_job, remove_orphaned_downloads
from .sandbox import Sandbox

logger = logging.getLogger(__package__)

T = TypeVar("T")

# Seconds between two listings of orphaned multipart uploads by one worker.
ORPHAN_SWEEP_INTERVAL = 3600.0


def load_analyzer(path: str | None = None) -> Analyzer:
    analyzer: Analyzer = import_string(path or settings.VIDEO_JOBS_ANALYZER)
    return analyzer


class Worker(Daemon):
    """Claims and processes jobs. Construct, then ``run()`` (the command) or ``run_once()`` (tests)."""

    log = logger

    def __init__(
        self,
        *,
        worker_id: str | None = None,
        analyzer: Analyzer | None = None,
        poll_interval: float | None = None,
        burst: bool = False,
        max_jobs: int | None = None,
        listen: bool = True,
        isolated: bool = True,
    ) -> None:
        """``isolated``: run each analysis in a child process with the memory and time limits (always so
        under ``run_worker``); False runs it in this process, for tests that watch the analyzer from inside.
        An analyzer that needs no video runs in this process either way."""
        self.worker_id = worker_id or default_worker_id()
        super().__init__(
            name=self.worker_id,
            channel=services.QUEUED_CHANNEL,
            poll_interval=poll_interval,
            burst=burst,
            listen=listen,
        )
        self.analyzer = analyzer or load_analyzer()
        self.sandbox = (
            Sandbox(
                memory_mb=settings.VIDEO_JOBS_ANALYSIS_MEMORY_MB,
                timeout=float(settings.VIDEO_JOBS_ANALYSIS_TIMEOUT),
                pass_env=tuple(settings.VIDEO_JOBS_ANALYSIS_PASS_ENV),
            )
            if isolated and needs_video(self.analyzer)
            else None
        )
        self.max_jobs = max_jobs
        self.lease_seconds = int(settings.VIDEO_JOBS_LEASE_SECONDS)
        self.sweep_interval = float(settings.VIDEO_JOBS_SWEEP_INTERVAL)
        self.shutdown_grace = float(settings.VIDEO_JOBS_SHUTDOWN_GRACE)
        self.progress_interval = float(settings.VIDEO_JOBS_PROGRESS_INTERVAL)
        self.jobs_processed = 0
        self.attempt: Attempt | None = None
        self.stop_deadline: float | None = None
        self._next_sweep = 0.0
        # Orphaned multipart uploads only matter after a day, so each worker lists them about once an hour,
        # starting at a random moment of its first hour (workers started together do not list together).
        self._next_orphan_sweep = time.monotonic() + random.uniform(0, ORPHAN_SWEEP_INTERVAL)
        # Where this worker's next page of job folders starts (services.sweep_stray_objects).
        self._strays_after = services.random_start()
        # A job claimed by the previous job's finish (finish_job_and_claim_next), to run next.
        self._next_job: VideoAnalysisJob | None = None
        self._in_loop = False
        self._heartbeat = Heartbeat(lease_seconds=self.lease_seconds)

    # --- one pass ------------------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Sweep if due, then claim and process one job. Returns whether a job was processed."""
        if time.monotonic() >= self._next_sweep:
            self.sweep()
        if self.stop_requested:
            return False  # a job claimed ahead is handed back as run() ends
        job, self._next_job = self._next_job, None
        if job is None:
            job = services.claim_next_job(worker_id=self.worker_id, lease_seconds=self.lease_seconds)
        if job is None:
            return False
        self.process(job)
        return True

    def _claims_ahead(self) -> bool:
        """Whether the finish of the running job may claim the next one in the same statement: only in
        run()'s loop (tests that drive run_once see one claim per pass) and when another job is wanted."""
        return (
            self._in_loop
            and not self.stop_requested
            and (self.max_jobs is None or self.jobs_processed + 1 < self.max_jobs)
        )

    def sweep(self) -> None:
        """The housekeeping every worker runs: expired leases back to the queue, abandoned uploads settled,
        source videos past their retention period deleted, deleted jobs' folders swept (their tombstones),
        a page of job folders no row keeps deleted, old webhook deliveries deleted, multipart uploads no
        awaiting job owns aborted.

        Concurrent sweeps by many workers are safe (each move is guarded); the jittered schedule spreads them.
        """
        self._next_sweep = time.monotonic() + self.sweep_interval * random.uniform(0.8, 1.2)
        requeued = services.requeue_expired_leases()
        none: dict[services.Outcome, int] = {}
        reconciled = self._sweep_step("upload reconciliation", services.reconcile_expired_uploads, none)
        expired = self._sweep_step("source video retention", services.expire_source_videos, 0)
        buried = self._sweep_step("deleted jobs' tombstones", services.sweep_tombstones, 0)
        strays = self._sweep_step("objects no row keeps", self._sweep_strays, 0)
        prune_deliveries()
        orphans = 0
        if time.monotonic() >= self._next_orphan_sweep:
            self._next_orphan_sweep = time.monotonic() + ORPHAN_SWEEP_INTERVAL
            orphans = self._sweep_step("orphaned multipart uploads", services.sweep_orphan_uploads, 0)
        if requeued or reconciled or expired or orphans or buried or strays:
            outcomes = ", ".join(f"{outcome}: {count}" for outcome, count in reconciled.items()) or "none"
            logger.info(
                "sweep: %s expired lease(s) taken back; uploads past deadline: %s; "
                "%s old source video(s) deleted; %s orphaned multipart upload(s) aborted; "
                "%s deleted job folder(s) and %s stray one(s) swept",
                requeued,
                outcomes,
                expired,
                orphans,
                buried,
                strays,
            )

    def _sweep_strays(self) -> int:
        """One page of job folders a sweep, each worker from its own random place, round and round."""
        swept, self._strays_after = services.sweep_stray_objects(start_after=self._strays_after)
        return swept

    def _sweep_step(self, name: str, step: Callable[[], T], nothing: T) -> T:
        """Run one S3-calling step of the sweep; an unexpected failure waits for the next sweep rather than
        stopping the worker (a database error does stop the pass: the loop reconnects)."""
        try:
            return step()
        except DATABASE_ERRORS:
            raise
        except Exception:
            logger.exception("%s failed; trying again next sweep", name)
            return nothing

    def process(self, job: VideoAnalysisJob) -> None:
        """Run one claimed job to its end: done, failed, queued for a retry, or dropped (lease lost)."""
        attempt = Attempt(
            job,
            analyzer=self.analyzer,
            sandbox=self.sandbox,
            lease_seconds=self.lease_seconds,
            progress_interval=self.progress_interval,
        )
        self.attempt = attempt
        # After publishing the attempt: a stop requested before then is copied here, one requested after
        # then sets the attempt's deadline itself (request_stop), so neither is missed.
        attempt.stop_deadline = self.stop_deadline
        try:
            with logging_job(job.pk), self._heartbeat.watching(attempt):
                logger.debug("job %s claimed (attempt %s of %s)", job.pk, job.attempts, job.max_attempts)
                self._next_job = attempt.run(claim_next=self._claims_ahead)
        finally:
            self.attempt = None
            self.jobs_processed += 1

    # --- the loop ------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Process jobs until stopped: a signal, an empty queue with ``burst``, or ``max_jobs``.

        Returns the exit status (0 for a graceful stop).
        """
        code = super().run()
        logger.info("worker %s stopped after %s job(s)", self.worker_id, self.jobs_processed)
        return code

    def starting(self) -> None:
        logger.info(
            "worker %s started (pid %s, lease %ss, poll %ss%s)",
            self.worker_id,
            os.getpid(),
            self.lease_seconds,
            self.poll_interval,
            ", burst" if self.burst else "",
        )
        # Everything loaded so far (Django, PyAV, the app) lives as long as the process: keep it out of
        # the cyclic garbage collector's full passes, which otherwise rescan it all, again and again.
        gc.freeze()
        remove_orphaned_downloads()
        if self.sandbox is not None:
            self.sandbox.start()  # now, so that the first job does not wait for it

    def serve(self) -> None:
        self._in_loop = True
        try:
            super().serve()
        finally:
            self._in_loop = False
            if self._next_job is not None:  # claimed ahead, then a stop came first
                hand_back(self._next_job)
                self._next_job = None

    def finished(self) -> bool:
        return self.stop_requested or (self.max_jobs is not None and self.jobs_processed >= self.max_jobs)

    # --- stopping ------------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop claiming; the running job gets VIDEO_JOBS_SHUTDOWN_GRACE seconds, then is handed back.

        Safe to call from a signal handler: it only sets fields and writes to pipes.
        """
        if self.stop_deadline is None:
            self.stop_deadline = time.monotonic() + self.shutdown_grace
        attempt = self.attempt
        if attempt is not None:
            attempt.stop_deadline = self.stop_deadline
        super().request_stop()
        self._heartbeat.wake()

    def on_stop_signal(self, name: str) -> None:
        attempt = self.attempt
        if attempt is not None:
            logger.info(
                "%s: stopping; job %s has %ss to finish before it is handed back (send %s again to exit now)",
                name,
                attempt.job.pk,
                self.shutdown_grace,
                name,
            )
        else:
            super().on_stop_signal(name)

    def on_exit_signal(self, name: str) -> None:
        attempt = self.attempt
        if attempt is not None:
            if attempt.temp_path:
                with suppress(OSError):
                    os.unlink(attempt.temp_path)
            # An analysis child dies with its server, and the server with this process (parent-death signals).
            logger.warning("second %s: exiting now; the lease will bring job %s back", name, attempt.job.pk)
        else:
            super().on_exit_signal(name)

    def close(self) -> None:
        """Stop the heartbeat thread, the analysis server and the LISTEN connection. Idempotent."""
        if not self.closed:
            self._heartbeat.close()
            if self.sandbox is not None:
                self.sandbox.close()
        super().close()
