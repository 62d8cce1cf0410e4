"""The machinery every transition shares: the guarded UPDATE and its NOTIFY, the field set of each state,
backoff, and the one "retry later, or give up with a code" policy.

Every time a transition writes (``queued_at``, ``run_after``, leases, ``finished_at``, ``updated_at``) is a
``DatabaseNow``: the database's clock in the UPDATE itself, never this process's (see ``video_jobs.clock``).

Both write paths (``move``, the ORM's guarded UPDATE, and ``fenced_write``, the worker's prepared statement)
leave the in-memory job in the same state: when the UPDATE moved the row, the fields it wrote are applied
to the instance (no reload); when it did not (another process got there first), the instance is left as
it was. A worker must never adopt the identity of the worker that took its job over, so reloading is the
caller's choice: ``move_or_show_winner`` does it for the API and the admin, which show the row as it is.

The times the database computed come back with the write: the fenced statement RETURNs them. The ORM's
UPDATE cannot, so ``move`` reads them back right after its commit (after the NOTIFY, so a waiting worker is
not kept waiting). Another process may have written the same column in between, most likely a worker's
claim stamping ``updated_at``: the instance then shows that later time, never a time from this process.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from ..clock import DatabaseNow
from ..error_codes import ERROR_MESSAGE_MAX_LENGTH, NEXT_STEP, ErrorCode
from ..models import VideoAnalysisJob
from ..ops import metrics
from ..refusals import Refusal
from ..webhooks import outbox
from ..webhooks.models import EventType
from ..webhooks.outbox import EVENT_OF_STATUS
from . import sql

Status = VideoAnalysisJob.Status
Stage = VideoAnalysisJob.Stage


def event_of(job: VideoAnalysisJob, fields: dict[str, Any]) -> EventType | None:
    """The webhook event a write of ``fields`` announces, if any: a job's end (done, failed, cancelled), and
    its becoming queued after an upload was verified. A running job that goes back to the queue (a retry,
    an expired lease, a hand-back) announces nothing: its owner already heard "queued"."""
    status = fields.get("status")
    if status == Status.QUEUED and job.status == Status.PROCESSING:
        return None
    return EVENT_OF_STATUS.get(status) if status is not None else None


class JobGone(Refusal):
    """The job was deleted while the call was under way (a concurrent DELETE won the race): answered as
    the 404 of a job that does not exist, which it now is."""

    error_code = "not_found"
    status = HTTPStatus.NOT_FOUND
    detail = "Not found."


def reload(job: VideoAnalysisJob) -> None:
    """Read ``job`` again from its row; JobGone when the row was deleted meanwhile."""
    try:
        job.refresh_from_db()
    except VideoAnalysisJob.DoesNotExist:
        raise JobGone(f"job {job.pk} was deleted meanwhile") from None


def _write(job: VideoAnalysisJob, fields: dict[str, Any], run: Callable[[], dict[str, Any] | None]) -> bool:
    """Run the UPDATE of ``fields`` and bring ``job`` up to date. ``run`` returns None when the UPDATE
    did not go through, else the values of the database's clock that it wrote (those it could return).

    The NOTIFY of a queued job and the webhook deliveries of the change (the outbox) share the UPDATE's
    transaction: they are delivered at commit, never for a rollback, and no crash separates them from the
    change. A lone UPDATE with neither is already its own transaction; skipping BEGIN/COMMIT saves two round
    trips.
    """
    queues = fields.get("status") == Status.QUEUED
    event = event_of(job, fields)
    with transaction.atomic() if queues or event else contextlib.nullcontext():
        written = run()
        if written is not None and queues:
            sql.notify_queued([job.pk])
        if written is not None and event:
            outbox.record_job_event(job=job, event_type=event)
    if written is None:
        return False
    clock = [name for name, value in fields.items() if isinstance(value, DatabaseNow)]
    missing = [name for name in clock if name not in written]
    if missing:
        written.update(database_times(job, missing))
    applied(job, {**fields, **written})
    return True


def database_times(job: VideoAnalysisJob, names: list[str]) -> dict[str, Any]:
    """Read back the times the database wrote for ``job``: one SELECT."""
    row = VideoAnalysisJob.objects.filter(pk=job.pk).values(*names).first()
    # A row deleted meanwhile has no times to show.
    return row if row is not None else dict.fromkeys(names)


def applied(job: VideoAnalysisJob, fields: dict[str, Any]) -> None:
    """A write of ``fields`` went through: apply it to ``job`` in memory and observe it."""
    for name, value in fields.items():
        setattr(job, name, value)
    metrics.observe_transition(job)


def move(job: VideoAnalysisJob, guard: Q, **fields: Any) -> bool:
    """UPDATE the job WHERE ``guard`` (the status it must still be in); returns whether this call moved it.

    Steps: 1. one conditional UPDATE; 2. a row count of 0 means another process got there first, an
    ordinary outcome; 3. a move that went through is applied to the instance, with the times the database
    wrote read back.
    """
    fields.setdefault("updated_at", DatabaseNow())

    def run() -> dict[str, Any] | None:
        return {} if VideoAnalysisJob.objects.filter(guard, pk=job.pk).update(**fields) == 1 else None

    return _write(job, fields, run)


def move_or_show_winner(job: VideoAnalysisJob, guard: Q, **fields: Any) -> bool:
    """``move``; when another process got there first, reload ``job`` so that callers show its state
    (JobGone when that process deleted it)."""
    moved = move(job, guard, **fields)
    if not moved:
        reload(job)
    return moved


def fenced_write(job: VideoAnalysisJob, **fields: Any) -> bool:
    """UPDATE the running job only while the lease fence holds (its id, ``processing``, its worker and its
    attempt). False: another worker owns the job now, and nothing was written."""
    fields.setdefault("updated_at", DatabaseNow())
    update = sql.fenced_update(job, fields)
    return _write(job, fields, lambda: update.written(sql.run_hot(update.sql, update.params, fetch=True)[1]))


def fence(job: VideoAnalysisJob) -> Q:
    """The lease fence as a filter: only the worker holding this very attempt may write."""
    return Q(status=Status.PROCESSING, worker_id=job.worker_id, attempts=job.attempts)


def lease_length(lease_seconds: int | None) -> timedelta:
    """The lease a worker takes or renews: its own length, else VIDEO_JOBS_LEASE_SECONDS."""
    return timedelta(seconds=lease_seconds or settings.VIDEO_JOBS_LEASE_SECONDS)


def lease_until(lease_seconds: int | None) -> DatabaseNow:
    """When a lease taken or renewed now ends, by the database's clock."""
    return DatabaseNow(lease_length(lease_seconds))


def percent(progress: float) -> int:
    return max(0, min(100, int(progress)))


# --- the field set of each state ---------------------------------------------------------------------------


def queued_fields() -> dict[str, Any]:
    return {
        "status": Status.QUEUED,
        "stage": Stage.QUEUED,
        "progress": 0,
        "queued_at": DatabaseNow(),
        "run_after": DatabaseNow(),
        "worker_id": "",
        "lease_expires_at": None,
    }


def error_fields(message: str, detail: str) -> dict[str, Any]:
    """``message`` is shown to the client: its own terms, never an endpoint, bucket, host, temporary path
    or worker id. ``detail`` (staff only: the admin, besides the log) says all of it; by default, the
    message."""
    return {
        "error_message": message[:ERROR_MESSAGE_MAX_LENGTH],
        "error_detail": (detail or message)[:ERROR_MESSAGE_MAX_LENGTH],
    }


def failed_fields(code: str, message: str, *, detail: str = "") -> dict[str, Any]:
    """A failed job's fields; its message ends with what the client can do now (``NEXT_STEP``)."""
    step = NEXT_STEP.get(ErrorCode(code), "") if code in ErrorCode.values else ""
    said = message.rstrip()[: ERROR_MESSAGE_MAX_LENGTH - len(step) - 2]
    if step:
        said = f"{said}{'' if said.endswith(('.', '!', '?')) or not said else '.'} {step}".strip()
    return {
        "status": Status.FAILED,
        "stage": Stage.FAILED,
        "error_code": code,
        **error_fields(said, detail or message),
        "finished_at": DatabaseNow(),
        "worker_id": "",
        "lease_expires_at": None,
    }


def done_fields(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": Status.DONE,
        "stage": Stage.DONE,
        "progress": 100,
        "result": result,
        "error_code": "",
        "error_message": "",
        "error_detail": "",
        "finished_at": DatabaseNow(),
        "lease_expires_at": None,
        "updated_at": DatabaseNow(),
    }


def backoff_delay(attempts: int | None) -> timedelta:
    """Exponential backoff with jitter for the retry after attempt number ``attempts``; None: the longest."""
    base = float(settings.VIDEO_JOBS_RETRY_BACKOFF_BASE)
    cap = float(settings.VIDEO_JOBS_RETRY_BACKOFF_MAX)
    ceiling = cap if attempts is None else min(cap, base * (2 ** max(0, attempts - 1)))
    # "Equal jitter": at least half the delay, so retries never stampede back at once.
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


def retry_or_give_up(
    job: VideoAnalysisJob, *, give_up_code: ErrorCode, message: str, detail: str = ""
) -> dict[str, Any]:
    """The one retry policy: queue the job again after a backoff while it has attempts left, otherwise
    fail it with ``give_up_code``. Returns the fields to write; ``message`` and ``detail`` (see
    ``error_fields``) are kept either way."""
    if job.attempts >= job.max_attempts:
        return failed_fields(give_up_code, message, detail=detail)
    fields = queued_fields()
    fields["run_after"] = DatabaseNow(backoff_delay(job.attempts))
    fields.update(error_fields(message, detail))
    return fields
