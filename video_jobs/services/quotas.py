"""Per-user quotas: at most VIDEO_JOBS_MAX_PENDING_UPLOADS jobs awaiting their upload and at most
VIDEO_JOBS_MAX_ACTIVE_JOBS queued or processing, unless staff gave the user other limits (a JobQuota row,
edited in the admin). Initiate checks both (``enforce``); upload-complete checks the active jobs again
(``enforce_active``), since a job becomes active only there. Staff re-verification and retry, and the
reconciler of uploads past their deadline, queue whatever the quota says (docs/api.md, "Quotas").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

from ..clock import DatabaseNow, rendered
from ..db import fill, is_postgresql, quote, run_hot
from ..models import JobQuota
from ..refusals import Refusal
from . import sql, strays


@dataclass(frozen=True)
class Limits:
    pending_uploads: int
    active_jobs: int


class QuotaExceeded(Refusal):
    """The user already has as many jobs as one of their limits allows."""

    error_code = "quota_exceeded"
    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, *, quota: str, limit: int, message: str) -> None:
        super().__init__(message, detail=message)
        self.quota = quota  # "pending_uploads" or "active_jobs"
        self.limit = limit
        self.message = message

    @property
    def retry_after(self) -> int:
        return int(settings.VIDEO_JOBS_QUOTA_RETRY_AFTER)

    def extra(self) -> dict[str, Any]:
        return {"quota": self.quota, "limit": self.limit}


def limits_for(user: Any) -> Limits:
    """The user's limits: staff's JobQuota where it sets one, the settings' defaults elsewhere."""
    row = JobQuota.objects.filter(user=user).first()
    return _limits(row.max_pending_uploads if row else None, row.max_active_jobs if row else None)


def _limits(pending: int | None, active: int | None) -> Limits:
    return Limits(
        pending_uploads=settings.VIDEO_JOBS_MAX_PENDING_UPLOADS if pending is None else pending,
        active_jobs=settings.VIDEO_JOBS_MAX_ACTIVE_JOBS if active is None else active,
    )


def _lock(owner_id: Any) -> Limits:
    """Lock the owner's user row (FOR NO KEY UPDATE, which a job's foreign key check does not wait on) until
    the caller's transaction ends, and read their limits in the same round trip (``lock_owner``). One user's
    quota checks take turns here, so two of them cannot both count the same free place; other users are not
    held up. (SQLite has no row locks, but its IMMEDIATE transactions already let one writer in at a
    time.)"""
    lock_sql, _ = _statements(is_postgresql())
    _, row = run_hot(lock_sql, [owner_id], fetch=True)
    if row is None:
        raise get_user_model().DoesNotExist(f"no user {owner_id}")
    return _limits(row[0], row[1])


def _counts(owner_id: Any, *, pending_limit: int, active_limit: int) -> dict[str, int]:
    """The owner's pending uploads and active jobs, in one statement on partial indexes
    (``count_owner_jobs``), run once the lock is held: its snapshot then sees every job a previous holder
    committed (a count inside the locking statement would be read from a snapshot taken before the wait).
    Each count stops one past its limit, so a result above a limit means "more than" it, and one at or
    below it is exact.

    A pending upload counts until every upload URL handed out for it has expired (``strays``): jobs
    awaiting their upload, jobs cancelled or failed before a verified upload less than the URLs' lifetime
    ago, and deleted jobs' tombstones until their URLs expire. Giving a place up early (cancel, delete)
    therefore frees it only then, so one user's late uploads (which the sweeps remove) never exceed their
    pending-uploads quota at a time. Tombstones are added only while the jobs alone stay under the
    pending-uploads limit (the refusal's message counts the jobs)."""
    postgresql = is_postgresql()
    _, count_sql = _statements(postgresql)
    pending_bound, active_bound = pending_limit + 1, active_limit + 1
    url_valid_since = rendered(DatabaseNow(-strays.url_lifetime()), postgresql=postgresql)[1]
    now = rendered(DatabaseNow(), postgresql=postgresql)[1]
    params = [owner_id, pending_bound, owner_id, active_bound]
    params += [owner_id, *url_valid_since, pending_bound, owner_id, *now, pending_bound]
    _, row = run_hot(count_sql, params, fetch=True)
    assert row is not None  # counts: always one row
    awaiting, active, given_up, tombstones = row
    pending = awaiting + given_up
    if pending < pending_limit:
        pending += tombstones
    return {"pending": pending, "active": active}


def _how_many(count: int, limit: int) -> str:
    """A bounded count as the refusal says it."""
    return str(count) if count <= limit else f"more than {limit}"


@functools.cache
def _statements(postgresql: bool) -> tuple[str, str]:
    """``lock_owner`` and ``count_owner_jobs`` for this database: its row lock, its clock."""
    clock_sql = rendered(DatabaseNow(), postgresql=postgresql)[0]
    user_table = quote(get_user_model()._meta.db_table)
    lock = f"FOR NO KEY UPDATE OF {user_table}" if postgresql else ""
    return (
        fill(sql.QUERIES["lock_owner"], lock=lock),
        fill(sql.QUERIES["count_owner_jobs"], url_valid_since=clock_sql, clock=clock_sql),
    )


def _refuse_active(active: int, limits: Limits) -> None:
    if active >= limits.active_jobs:
        raise QuotaExceeded(
            quota="active_jobs",
            limit=limits.active_jobs,
            message=f"You have {_how_many(active, limits.active_jobs)} jobs queued or processing, and at "
            f"most {limits.active_jobs} are allowed: wait for one to finish.",
        )


def enforce(owner: Any) -> None:
    """Raise QuotaExceeded unless ``owner`` may create one more job. Call it inside the transaction that
    inserts the job: 1. lock the owner and read their limits (``_lock``); 2. count live jobs; 3. refuse."""
    limits = _lock(owner.pk)
    counts = _counts(owner.pk, pending_limit=limits.pending_uploads, active_limit=limits.active_jobs)
    if counts["pending"] >= limits.pending_uploads:
        raise QuotaExceeded(
            quota="pending_uploads",
            limit=limits.pending_uploads,
            message=f"You have {_how_many(counts['pending'], limits.pending_uploads)} jobs awaiting their "
            "upload (a job cancelled or deleted counts until its upload URL has expired), and at most "
            f"{limits.pending_uploads} are allowed: upload one first, or wait.",
        )
    _refuse_active(counts["active"], limits)


def in_use(owner_id: Any) -> str:
    """What the owner uses of their limits, counted as initiate counts it (pending uploads include jobs given
    up and deleted whose upload URLs are still valid): for staff, in the admin."""
    limits = limits_for(owner_id)
    counts = _counts(owner_id, pending_limit=limits.pending_uploads, active_limit=limits.active_jobs)
    pending = _how_many(counts["pending"], limits.pending_uploads)
    active = _how_many(counts["active"], limits.active_jobs)
    return (
        f"{pending} of {limits.pending_uploads} pending uploads, {active} of {limits.active_jobs} active jobs"
    )


def enforce_active(owner_id: Any, *, lock: bool = True) -> None:
    """Raise QuotaExceeded unless the owner may have one more job queued or processing. Call it inside the
    transaction that queues the job (``lock``: the owner's row lock, as ``enforce`` takes it); without
    ``lock`` it is only a first look, which spares an S3 call for a caller that is over."""
    limits = _lock(owner_id) if lock else limits_for(owner_id)
    # Pending uploads are not counted here: a bound of 0 (LIMIT 0) reads none of them.
    counts = _counts(owner_id, pending_limit=-1, active_limit=limits.active_jobs)
    _refuse_active(counts["active"], limits)
