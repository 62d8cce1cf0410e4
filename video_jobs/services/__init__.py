"""Every state transition of a video job.

Each transition is a conditional UPDATE guarded by the status the caller expects (and, for a worker, by its
lease fence), so two concurrent callers can never both move a job: a row count of 0 means someone else got
there first. S3 calls happen before the UPDATE, never inside a transaction.

Rooms: ``machinery`` (the guarded UPDATE and its NOTIFY, field sets, backoff, the retry policy),
``uploads`` (transitions that ask S3 first), ``parts`` (large uploads in parts: plan, part URLs,
assembly, aborting), ``leases`` (a running job's lease protocol), ``quotas`` (the per-user limits initiate
and upload-complete enforce), ``deletion`` (a job's objects and row on request, its source video after the
retention period), ``strays`` (objects no row keeps: deleted jobs' tombstones, late uploads) and ``sql``
(the hot path's statements, kept in ``queries.sql``).

Other packages call this package, never its modules. It may import models, clock, db, s3, ops and the
webhooks' outbox (which records events without the API); never the API or its serializers.
"""

from ..models import Outcome
from .deletion import Deletion, delete_job, expire_source_videos
from .leases import (
    claim_next_job,
    fail_job,
    finish_job,
    finish_job_and_claim_next,
    postpone_job,
    release_job,
    renew_lease,
    report_progress,
    requeue_expired_leases,
    requeue_stale_job,
    retry_job,
)
from .machinery import JobGone, backoff_delay
from .parts import (
    MAX_PARTS_A_CALL,
    SINGLE,
    PartOutOfRange,
    PartsClosed,
    Plan,
    held_parts,
    presign_parts,
    sweep_orphan_uploads,
    upload_instructions,
)
from .quotas import QuotaExceeded, in_use, limits_for
from .sql import QUEUED_CHANNEL
from .strays import on_job_deleted, random_start, sweep_stray_objects, sweep_tombstones
from .uploads import (
    CANCELLABLE,
    RETRYABLE,
    REVERIFIABLE,
    IdempotencyKeyReused,
    VerifyResult,
    cancel_job,
    complete_upload,
    initiate_upload,
    reconcile_expired_uploads,
    retry_failed_job,
    reverify_upload,
)

__all__ = [
    "CANCELLABLE",
    "MAX_PARTS_A_CALL",
    "QUEUED_CHANNEL",
    "RETRYABLE",
    "REVERIFIABLE",
    "SINGLE",
    "Deletion",
    "IdempotencyKeyReused",
    "JobGone",
    "Outcome",
    "PartOutOfRange",
    "PartsClosed",
    "Plan",
    "QuotaExceeded",
    "VerifyResult",
    "backoff_delay",
    "cancel_job",
    "claim_next_job",
    "complete_upload",
    "delete_job",
    "expire_source_videos",
    "fail_job",
    "finish_job",
    "finish_job_and_claim_next",
    "held_parts",
    "in_use",
    "initiate_upload",
    "limits_for",
    "on_job_deleted",
    "postpone_job",
    "presign_parts",
    "random_start",
    "reconcile_expired_uploads",
    "release_job",
    "renew_lease",
    "report_progress",
    "requeue_expired_leases",
    "requeue_stale_job",
    "retry_failed_job",
    "retry_job",
    "reverify_upload",
    "sweep_orphan_uploads",
    "sweep_stray_objects",
    "sweep_tombstones",
    "upload_instructions",
]
