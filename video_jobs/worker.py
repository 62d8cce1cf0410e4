"""The worker: claim a queued job, hold its lease, download, analyse, store the result; and recover.

``Worker.run_once()`` does one pass (recovery sweeps when due, then claim and process at most one job) and
returns whether it processed a job, so tests drive it step by step. ``Worker.run()`` loops over it until
stopped, waking on PostgreSQL NOTIFY (or polling) while idle, and handles SIGTERM/SIGINT.

Every write about a job goes through a fenced service (``id``, ``status='processing'``, ``worker_id``,
``attempts``), so a worker that lost its lease writes nothing. Two threads share a running job: the main
thread does the work, the heartbeat thread renews the lease, flushes held-back progress, and hands the job
back when a shutdown's grace period runs out.
"""

from __future__ import annotations

import contextvars
import gc
import logging
import os
import random
import select
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.utils.module_loading import import_string

from . import metrics, services, storage
from .analysis import Analysis, Analyzer, InvalidVideo, JobInterrupted
from .models import ErrorCode, VideoAnalysisJob

logger = logging.getLogger(__name__)

Stage = VideoAnalysisJob.Stage
T = TypeVar("T")

# A database that went away (restart, failover, network): transient, never a reason to fail a job.
DATABASE_ERRORS = (OperationalError, InterfaceError)

# Seconds a busy worker holds metric observations in memory before writing them (see metrics._Buffer).
METRICS_FLUSH_INTERVAL = 5.0

# Each stage's share of the job's 0-100 progress.
_PROGRESS_BANDS = {
    Stage.DOWNLOADING: (0, 30),
    Stage.ANALYZING: (30, 90),
    Stage.STORING_RESULTS: (90, 99),
}

_current_job: contextvars.ContextVar[str] = contextvars.ContextVar("video_jobs_current_job", default="-")


class ChecksumMismatch(Exception):
    """The downloaded bytes do not hash to the sha256 the client declared."""


# Failures that no retry can mend, and the stable code each ends with.
_PERMANENT: tuple[tuple[type[Exception], ErrorCode], ...] = (
    (storage.ObjectMissing, ErrorCode.UPLOAD_MISSING),
    (storage.ObjectChanged, ErrorCode.UPLOAD_CHANGED),
    (ChecksumMismatch, ErrorCode.UPLOAD_CHECKSUM_MISMATCH),
    (InvalidVideo, ErrorCode.INVALID_VIDEO),
)


class JobContextFilter(logging.Filter):
    """Stamps every log record with the worker id and the job its thread is working on ("-" if none)."""

    def __init__(self, worker_id: str) -> None:
        super().__init__()
        self.worker_id = worker_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker_id = self.worker_id
        record.job_id = _current_job.get()
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s [%(worker_id)s job=%(job_id)s] %(name)s: %(message)s"


# Downloads are named cricksy-<pid>-<job>-<random>.video, so that one left by a killed worker can be told
# from one a live worker on the same machine is still using.
_DOWNLOAD_PREFIX = "cricksy-"
_DOWNLOAD_SUFFIX = ".video"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_orphaned_downloads(folder: str | None = None) -> int:
    """Delete downloads left in the temporary folder by workers that no longer run (a SIGKILL or an OOM
    kill skips every cleanup). Returns how many bytes were freed. A file whose process still runs, or whose
    pid was reused, is kept."""
    freed = 0
    for path in Path(folder or tempfile.gettempdir()).glob(f"{_DOWNLOAD_PREFIX}*{_DOWNLOAD_SUFFIX}"):
        pid = path.name[len(_DOWNLOAD_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        with suppress(OSError):
            size = path.stat().st_size
            path.unlink()
            freed += size
            logger.info("removed %s (%s bytes), left by stopped process %s", path.name, size, pid)
    return freed


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def load_analyzer(path: str | None = None) -> Analyzer:
    analyzer: Analyzer = import_string(path or settings.VIDEO_JOBS_ANALYZER)
    return analyzer


def _pipe() -> tuple[int, int]:
    """A non-blocking self-pipe: writing a byte wakes a select(); safe from a signal handler (no locks)."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    return read, write


def _poke(fd: int) -> None:
    # A full pipe already holds a wake-up, so a failed write loses nothing.
    with suppress(BlockingIOError, OSError):
        os.write(fd, b"\0")


def _drain(fd: int) -> None:
    with suppress(BlockingIOError, OSError):
        while os.read(fd, 4096):
            pass


def _hand_back(job: VideoAnalysisJob) -> None:
    """Return a job this worker will not finish to the queue, without counting the attempt."""
    try:
        services.release_job(job=job)
    except DATABASE_ERRORS as exc:
        logger.warning("job %s: could not hand it back (%s); its lease will bring it back", job.pk, exc)
        connection.close()


class _Attempt:
    """One claimed attempt at a job: what the main thread and the heartbeat thread share.

    Progress reports are coalesced: at most one write per ``VIDEO_JOBS_PROGRESS_INTERVAL``; a report held
    back is marked pending and rides along with the next write or lease renewal.
    """

    def __init__(self, job: VideoAnalysisJob, *, lease_seconds: int, progress_interval: float) -> None:
        now = time.monotonic()
        self.job = job
        self.stage: str = job.stage
        self.progress: int = job.progress
        self.pending = False
        self.progress_interval = progress_interval
        self.last_write = now  # the claim itself wrote stage and progress
        self.renew_at = now + lease_seconds / 3
        self.interrupted = ""
        self.temp_path = ""

    def interrupt(self, reason: str) -> None:
        self.interrupted = self.interrupted or reason

    def check(self) -> None:
        if self.interrupted:
            raise JobInterrupted(self.interrupted)

    def report(self, stage: Stage, fraction: float, *, confirm: bool = False) -> None:
        """The progress callback (main thread). Raises JobInterrupted once the job is no longer ours.

        ``confirm`` writes at once, whatever the interval: a fenced check that the job is still ours.
        """
        self.check()
        low, high = _PROGRESS_BANDS[stage]
        progress = low + int((high - low) * min(max(fraction, 0.0), 1.0))
        if (stage, progress) == (self.stage, self.progress) and not confirm:
            return
        self.stage, self.progress = stage, progress
        if time.monotonic() - self.last_write < self.progress_interval and not confirm:
            self.pending = True
            return
        try:
            ours = services.report_progress(job=self.job, stage=stage, progress=progress)
        except DATABASE_ERRORS as exc:
            # Progress is not worth failing a job over; the heartbeat or the finish will write again.
            logger.warning("job %s: progress not recorded, database unavailable: %s", self.job.pk, exc)
            connection.close()
            self.pending = True
            return
        self.last_write = time.monotonic()
        self.pending = False
        if not ours:
            self.interrupt("lease lost to another worker")
            self.check()


class _Heartbeat:
    """A long-lived thread (one per worker, not per job) that renews the running job's lease.

    It sleeps on a self-pipe until the next renewal, a shutdown deadline, an idle tick, or a wake-up from a
    stop request. Its database connection is opened only when a job outlives a third of its lease, and
    closed at the first tick after the job ends, so short jobs never pay for it.
    """

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self._wake_read, self._wake_write = _pipe()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        """Start the thread, if it is not running yet."""
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Make the thread look at the running job now (a stop was requested)."""
        if not self._closed:
            self.start()
            _poke(self._wake_write)

    def close(self) -> None:
        self._closed = True
        _poke(self._wake_write)
        if self._thread is not None:
            self._thread.join(timeout=30)
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _timeout(self) -> float | None:
        attempt = self._worker.attempt
        if attempt is None or attempt.interrupted:
            # Idle ticks a third of a lease apart, instead of a wake-up from the main thread at every
            # claim: a job claimed meanwhile is then looked at within a third of its lease, well before
            # it expires, and back-to-back jobs cost no thread switches.
            return self._worker.lease_seconds / 3
        deadline = attempt.renew_at
        if self._worker.stop_deadline is not None:
            deadline = min(deadline, self._worker.stop_deadline)
        return max(0.0, deadline - time.monotonic())

    def _run(self) -> None:
        used_database = False
        try:
            while not self._closed:
                select.select([self._wake_read], [], [], self._timeout())
                _drain(self._wake_read)
                attempt = self._worker.attempt
                if attempt is None or attempt.interrupted:
                    if used_database:
                        connection.close()
                        used_database = False
                    continue
                token = _current_job.set(str(attempt.job.pk))
                try:
                    used_database |= self._tick(attempt)
                except Exception:
                    # A bug here must not end the thread: every later job would run without a heartbeat.
                    logger.exception("job %s: heartbeat failed; trying again in a second", attempt.job.pk)
                    attempt.renew_at = time.monotonic() + 1.0
                    used_database = True
                finally:
                    _current_job.reset(token)
        finally:
            connection.close()

    def _tick(self, attempt: _Attempt) -> bool:
        """Renew or hand back as due. Returns whether it used the database."""
        now = time.monotonic()
        stop_deadline = self._worker.stop_deadline
        if stop_deadline is not None and now >= stop_deadline:
            attempt.interrupt("shutdown grace period over")
            _hand_back(attempt.job)
            return True
        if now < attempt.renew_at:
            return False
        stage, progress = attempt.stage, attempt.progress
        lease = self._worker.lease_seconds
        try:
            ours = services.renew_lease(
                job=attempt.job,
                lease_seconds=lease,
                stage=stage if attempt.pending else None,
                progress=progress if attempt.pending else None,
            )
        except DATABASE_ERRORS as exc:
            logger.warning(
                "job %s: lease not renewed, database unavailable (%s); retrying", attempt.job.pk, exc
            )
            connection.close()
            attempt.renew_at = now + min(1.0, lease / 6)
            return True
        if not ours:
            attempt.interrupt("lease lost to another worker")
            logger.warning(
                "job %s: lease lost to another worker; dropping the job without writing", attempt.job.pk
            )
            return True
        attempt.renew_at = time.monotonic() + lease / 3
        if (attempt.stage, attempt.progress) == (stage, progress):
            attempt.pending = False
        return True


class _QueueListener:
    """A dedicated PostgreSQL connection LISTENing for jobs becoming queued, so an idle worker wakes at once.

    It reconnects after the database restarts; until then (and on SQLite) the worker polls.
    """

    def __init__(self, *, worker_id: str, retry_interval: float) -> None:
        self.worker_id = worker_id
        self.retry_interval = retry_interval
        # True right after (re)connecting: notifications sent before LISTEN took effect were missed, so
        # the worker should look for work once more before it sleeps.
        self.fresh = False
        self._conn: psycopg.Connection[Any] | None = None
        self._retry_at = 0.0

    def fileno(self) -> int | None:
        if self._conn is None and time.monotonic() >= self._retry_at:
            self._connect()
        return self._conn.fileno() if self._conn is not None else None

    def _connect(self) -> None:
        params = connection.get_connection_params()
        params["application_name"] = f"video_jobs listen {self.worker_id}"[:63]
        params.setdefault("connect_timeout", 5)
        try:
            conn = psycopg.connect(**params, autocommit=True)
            conn.execute(f"LISTEN {services.QUEUED_CHANNEL}")
        except psycopg.Error as exc:
            logger.warning("LISTEN connection failed (%s); polling meanwhile", exc)
            self._retry_at = time.monotonic() + self.retry_interval
            return
        self._conn = conn
        self.fresh = True
        logger.info("listening on %s", services.QUEUED_CHANNEL)

    def drain(self) -> int:
        """Consume waiting notifications; returns how many. A broken connection is dropped, to reconnect."""
        if self._conn is None:
            return 0
        try:
            return sum(1 for _ in self._conn.notifies(timeout=0))
        except psycopg.Error as exc:
            logger.warning("LISTEN connection lost (%s); reconnecting", exc)
            self.close()
            return 0

    def close(self) -> None:
        if self._conn is not None:
            with suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class Worker:
    """Claims and processes jobs. Construct, then ``run()`` (the command) or ``run_once()`` (tests)."""

    def __init__(
        self,
        *,
        worker_id: str | None = None,
        analyzer: Analyzer | None = None,
        poll_interval: float | None = None,
        burst: bool = False,
        max_jobs: int | None = None,
        listen: bool = True,
    ) -> None:
        self.worker_id = worker_id or default_worker_id()
        self.analyzer = analyzer or load_analyzer()
        self.poll_interval = poll_interval if poll_interval is not None else settings.VIDEO_JOBS_POLL_INTERVAL
        self.burst = burst
        self.max_jobs = max_jobs
        self.listen = listen
        self.lease_seconds = int(settings.VIDEO_JOBS_LEASE_SECONDS)
        self.sweep_interval = float(settings.VIDEO_JOBS_SWEEP_INTERVAL)
        self.shutdown_grace = float(settings.VIDEO_JOBS_SHUTDOWN_GRACE)
        self.progress_interval = float(settings.VIDEO_JOBS_PROGRESS_INTERVAL)
        self.jobs_processed = 0
        self.attempt: _Attempt | None = None
        self.stop_requested = False
        self.stop_deadline: float | None = None
        self._next_sweep = 0.0
        self._next_flush = 0.0
        # A job claimed by the previous job's finish (finish_job_and_claim_next), to run next.
        self._next_job: VideoAnalysisJob | None = None
        self._in_loop = False
        self._wake_read, self._wake_write = _pipe()
        self._heartbeat = _Heartbeat(self)
        self._listener: _QueueListener | None = None
        self._closed = False

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
        """The recovery sweeps every worker runs: expired leases back to the queue, abandoned uploads settled.

        Concurrent sweeps by many workers are safe (each move is guarded); the jittered schedule spreads them.
        """
        self._next_sweep = time.monotonic() + self.sweep_interval * random.uniform(0.8, 1.2)
        requeued = services.requeue_expired_leases()
        try:
            reconciled = services.reconcile_expired_uploads()
        except DATABASE_ERRORS:
            raise
        except Exception:
            logger.exception("upload reconciliation failed; trying again next sweep")
            reconciled = {}
        if requeued or reconciled:
            outcomes = ", ".join(f"{outcome}: {count}" for outcome, count in reconciled.items()) or "none"
            logger.info(
                "sweep: %s expired lease(s) taken back; uploads past deadline: %s", requeued, outcomes
            )

    def process(self, job: VideoAnalysisJob) -> None:
        """Run one claimed job to its end: done, failed, queued for a retry, or dropped (lease lost)."""
        attempt = _Attempt(job, lease_seconds=self.lease_seconds, progress_interval=self.progress_interval)
        token = _current_job.set(str(job.pk))
        self.attempt = attempt
        self._heartbeat.start()
        try:
            logger.debug("job %s claimed (attempt %s of %s)", job.pk, job.attempts, job.max_attempts)
            self._execute(attempt)
        finally:
            self.attempt = None
            self.jobs_processed += 1
            _current_job.reset(token)

    def _execute(self, attempt: _Attempt) -> None:
        job = attempt.job
        started = time.monotonic()
        try:
            analysis, download = self._download_and_analyse(attempt)
            if not isinstance(analysis, Analysis):
                raise TypeError(f"the analyzer returned {type(analysis).__name__}, not an Analysis")
            # Artifacts go to fixed keys beside the video: before writing them, make sure (a fenced write)
            # that the job is still ours, so a worker that lost its lease does not overwrite the new owner's.
            attempt.report(Stage.STORING_RESULTS, 0.0, confirm=bool(analysis.artifacts))
            result = self._store(attempt, analysis, download)
            attempt.check()
            if self._claims_ahead():
                done, self._next_job = self._write(
                    lambda: services.finish_job_and_claim_next(
                        job=job, result=result, lease_seconds=self.lease_seconds
                    )
                )
            else:
                done = self._write(lambda: services.finish_job(job=job, result=result))
        except JobInterrupted as exc:
            logger.warning("job %s dropped without writing: %s", job.pk, exc)
            return
        except Exception as exc:
            self._settle_failure(job, exc)
            return
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

    def _download_and_analyse(self, attempt: _Attempt) -> tuple[Analysis, storage.Download | None]:
        job = attempt.job

        def progress(fraction: float) -> None:
            attempt.report(Stage.ANALYZING, fraction)

        if not getattr(self.analyzer, "needs_video", True):
            return self.analyzer(None, job=job, progress=progress), None  # type: ignore[arg-type]
        size = max(1, job.object_size or job.size_bytes)
        # The temporary file goes away when this block ends, however it ends.
        prefix = f"{_DOWNLOAD_PREFIX}{os.getpid()}-{job.pk}-"
        with tempfile.NamedTemporaryFile(prefix=prefix, suffix=_DOWNLOAD_SUFFIX) as handle:
            attempt.temp_path = handle.name
            try:
                download = storage.download(
                    key=job.s3_key,
                    destination=handle,
                    if_match=job.object_etag,
                    on_progress=lambda written: attempt.report(Stage.DOWNLOADING, written / size),
                )
                if job.sha256 and download.sha256 != job.sha256.lower():
                    raise ChecksumMismatch(
                        f"downloaded bytes hash to {download.sha256}, {job.sha256} was declared"
                    )
                attempt.report(Stage.ANALYZING, 0.0)
                analysis = self.analyzer(Path(handle.name), job=job, progress=progress)
            finally:
                attempt.temp_path = ""
        return analysis, download

    def _store(
        self, attempt: _Attempt, analysis: Analysis, download: storage.Download | None
    ) -> dict[str, Any]:
        job = attempt.job
        artifacts = {}
        for artifact in analysis.artifacts:
            attempt.check()  # a worker that lost the job must not overwrite the new owner's files either
            key = storage.artifact_key(job.pk, artifact.name)
            storage.put_artifact(key=key, data=artifact.data, content_type=artifact.content_type)
            artifacts[artifact.name] = {
                "key": key,
                "content_type": artifact.content_type,
                "size_bytes": len(artifact.data),
            }
        result = {**analysis.result, "artifacts": artifacts}
        if download is not None:
            result["source"] = {
                "size_bytes": download.size,
                "sha256": download.sha256,
                "etag": job.object_etag,
            }
        return result

    def _settle_failure(self, job: VideoAnalysisJob, exc: Exception) -> None:
        """Fail the job at once for a permanent error; else queue it for a retry (or attempts_exhausted)."""
        code = next((code for kind, code in _PERMANENT if isinstance(exc, kind)), None)
        message = str(exc)
        if code is None and not isinstance(
            exc, storage.StorageUnavailable | OperationalError | InterfaceError
        ):
            # Not a known failure: an analyzer bug or a fault of this machine. Retried all the same (ending
            # as attempts_exhausted), with the traceback for whoever reads the logs.
            message = f"{type(exc).__name__}: {exc}"
            logger.error("job %s: unexpected error: %s", job.pk, message, exc_info=exc)
        try:
            if code is not None:
                permanent = code
                moved = self._write(lambda: services.fail_job(job=job, code=permanent, message=message))
            else:
                moved = self._write(lambda: services.retry_job(job=job, message=message))
        except DATABASE_ERRORS as db_exc:
            logger.error(
                "job %s: could not record the failure (%s); its lease will bring it back", job.pk, db_exc
            )
            return
        if not moved:
            logger.warning("job %s: another worker owns it now; failure not recorded (%s)", job.pk, message)

    def _write(self, call: Callable[[], T]) -> T:
        """A fenced write that survives one dropped connection: reconnect and try again once."""
        try:
            return call()
        except DATABASE_ERRORS as exc:
            logger.warning("database connection lost (%s); reconnecting", exc)
            connection.close()
            return call()

    # --- the loop ------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Process jobs until stopped: a signal, an empty queue with ``burst``, or ``max_jobs``.

        Returns the exit status (0 for a graceful stop).
        """
        if self.listen and connection.vendor == "postgresql" and not self.burst:
            self._listener = _QueueListener(worker_id=self.worker_id, retry_interval=self.poll_interval)
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
        try:
            with metrics.buffered(), self._signals_handled():
                self._in_loop = True
                try:
                    self._loop()
                finally:
                    self._in_loop = False
                    if self._next_job is not None:  # claimed ahead, then a stop came first
                        _hand_back(self._next_job)
                        self._next_job = None
        finally:
            self.close()
        logger.info("worker %s stopped after %s job(s)", self.worker_id, self.jobs_processed)
        return 0

    def _loop(self) -> None:
        busy = False
        while not self.stop_requested:
            if self.max_jobs is not None and self.jobs_processed >= self.max_jobs:
                break
            if not busy:
                # Drops a connection that broke or outlived CONN_MAX_AGE, as Django does between requests.
                # Not between back-to-back jobs: its health check would add a SELECT 1 to every job, and a
                # connection that breaks mid-run raises a database error handled below anyway.
                close_old_connections()
            try:
                if time.monotonic() >= self._next_flush:
                    self._flush_metrics()
                busy = self.run_once()
                if busy:
                    continue
                self._flush_metrics()
            except DATABASE_ERRORS as exc:
                busy = False
                logger.warning("database unavailable (%s); retrying in %ss", exc, self.poll_interval)
                connection.close()
                self._wait(self.poll_interval)
                continue
            if self.burst:
                break
            self._wait(self.poll_interval)

    def _flush_metrics(self) -> None:
        self._next_flush = time.monotonic() + METRICS_FLUSH_INTERVAL
        metrics.flush()

    def _wait(self, timeout: float) -> None:
        """Sleep until a NOTIFY, a signal or stop request, or the timeout."""
        fds = [self._wake_read]
        listen_fd = None
        if self._listener is not None:
            listen_fd = self._listener.fileno()
            if self._listener.fresh:
                self._listener.fresh = False
                return
            if listen_fd is not None:
                fds.append(listen_fd)
        ready, _, _ = select.select(fds, [], [], timeout)
        if self._wake_read in ready:
            _drain(self._wake_read)
        if self._listener is not None and listen_fd in ready:
            self._listener.drain()

    def request_stop(self) -> None:
        """Stop claiming; the running job gets VIDEO_JOBS_SHUTDOWN_GRACE seconds, then is handed back.

        Safe to call from a signal handler: it only sets fields and writes to pipes.
        """
        self.stop_requested = True
        if self.stop_deadline is None:
            self.stop_deadline = time.monotonic() + self.shutdown_grace
        if not self._closed:
            _poke(self._wake_write)
            self._heartbeat.wake()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stop_requested:
            self._exit_now(signum, name)
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
            logger.info("%s: stopping", name)
        self.request_stop()

    def _exit_now(self, signum: int, name: str) -> None:
        attempt = self.attempt
        if attempt is not None:
            if attempt.temp_path:
                with suppress(OSError):
                    os.unlink(attempt.temp_path)
            logger.warning("second %s: exiting now; the lease will bring job %s back", name, attempt.job.pk)
        else:
            logger.warning("second %s: exiting now", name)
        os._exit(128 + signum)

    @contextmanager
    def _signals_handled(self) -> Iterator[None]:
        # Signal handlers (and the wake-up fd that interrupts select) can only be set from the main thread.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous_fd = signal.set_wakeup_fd(self._wake_write, warn_on_full_buffer=False)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_fd)

    def close(self) -> None:
        """Stop the heartbeat thread and the LISTEN connection. Idempotent."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if not self._closed:
            self._closed = True
            self._heartbeat.close()
            os.close(self._wake_read)
            os.close(self._wake_write)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
