"""The video analysis job and the read predicates shared by the API, the admin, the worker and job_stats."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.authtoken.models import TokenProxy

from .clock import DatabaseNow
from .error_codes import ErrorCode as ErrorCode

# The fields of a job's body: what the API shows of it, and what a webhook event copies of it when the job
# changes (the outbox reads them from the row without the API, which renders them at send time).
JOB_FIELDS = (
    "id", "status", "stage", "progress", "filename", "content_type", "size_bytes", "sha256", "attempts",
    "error_code", "error_message", "result", "created_at", "updated_at", "upload_deadline", "queued_at",
    "started_at", "finished_at", "source_deleted_at",
)  # fmt: skip


class Outcome(enum.StrEnum):
    """What a verification of an upload (HeadObject) found. The values double as the metric label."""

    QUEUED = "queued"
    MISSING = "missing"
    SIZE_MISMATCH = "size_mismatch"
    TOO_LARGE = "too_large"
    TRANSIENT = "transient"
    NOT_ELIGIBLE = "not_eligible"
    INCOMPLETE = "incomplete"  # a multipart upload with parts missing: the client resumes


# Failures that are about the uploaded object rather than its processing: staff may re-verify these.
UPLOAD_ERROR_CODES = frozenset(
    {
        ErrorCode.UPLOAD_MISSING,
        ErrorCode.UPLOAD_SIZE_MISMATCH,
        ErrorCode.UPLOAD_TOO_LARGE,
        ErrorCode.UPLOAD_EXPIRED,
    }
)


class JobStatus(models.TextChoices):
    AWAITING_UPLOAD = "awaiting_upload", "Awaiting upload"
    """Created by initiate; the client is uploading. Never claimable."""
    QUEUED = "queued", "Queued"
    """The upload was verified by HeadObject; a worker may claim it."""
    PROCESSING = "processing", "Processing"
    """A worker holds the lease and is analysing the video."""
    DONE = "done", "Done"
    """Analysis finished; ``result`` holds it."""
    FAILED = "failed", "Failed"
    """Ended with a stable ``error_code``."""
    CANCELLED = "cancelled", "Cancelled"
    """Cancelled by its owner or staff before processing started."""


class JobStage(models.TextChoices):
    AWAITING_UPLOAD = "awaiting_upload", "Awaiting upload"
    QUEUED = "queued", "Queued"
    DOWNLOADING = "downloading", "Downloading"
    ANALYZING = "analyzing", "Analyzing"
    STORING_RESULTS = "storing_results", "Storing results"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# The stages a processing job moves through.
PROCESSING_STAGES = [JobStage.DOWNLOADING, JobStage.ANALYZING, JobStage.STORING_RESULTS]
# Statuses nothing moves a job out of on its own (only staff re-verify or retry a failed job).
ENDED_STATUSES = [JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED]
# Statuses that count against a user's quotas.
LIVE_STATUSES = [JobStatus.AWAITING_UPLOAD, JobStatus.QUEUED, JobStatus.PROCESSING]
# Ended statuses a job may reach before its upload was verified (``verified_at`` NULL): its upload URLs may
# still be valid, and no object is wanted for it.
GIVEN_UP_STATUSES = [JobStatus.CANCELLED, JobStatus.FAILED]


class VideoAnalysisJobQuerySet(models.QuerySet["VideoAnalysisJob"]):
    def owned_by(self, user: Any) -> VideoAnalysisJobQuerySet:
        """The jobs of ``user``; an anonymous user owns none (its pk is None)."""
        return self.filter(owner=user)

    # Each predicate compares with the database's clock (``clock.DatabaseNow``), in the statement itself.

    def claimable(self) -> VideoAnalysisJobQuerySet:
        """Queued jobs whose retry delay has passed: the only jobs a worker may take."""
        return self.filter(status=VideoAnalysisJob.Status.QUEUED, run_after__lte=DatabaseNow())

    def stuck_uploads(self, *, older_than: timedelta | None = None) -> VideoAnalysisJobQuerySet:
        """Jobs still waiting for their upload after ``older_than`` (VIDEO_JOBS_STUCK_UPLOAD_MINUTES)."""
        if older_than is None:
            older_than = timedelta(minutes=settings.VIDEO_JOBS_STUCK_UPLOAD_MINUTES)
        return self.filter(
            status=VideoAnalysisJob.Status.AWAITING_UPLOAD,
            created_at__lt=DatabaseNow(-older_than),
        )

    def upload_deadline_passed(self) -> VideoAnalysisJobQuerySet:
        """Uploads abandoned past their deadline: the reconciler's work list."""
        return self.filter(status=VideoAnalysisJob.Status.AWAITING_UPLOAD, upload_deadline__lt=DatabaseNow())

    def lease_expired(self) -> VideoAnalysisJobQuerySet:
        """Processing jobs whose worker stopped renewing its lease (crashed, partitioned, killed)."""
        return self.filter(status=VideoAnalysisJob.Status.PROCESSING, lease_expires_at__lt=DatabaseNow())

    def source_retention_passed(self, *, ended_before: datetime) -> VideoAnalysisJobQuerySet:
        """Jobs that ended before ``ended_before`` and still have their source video: the retention sweep's
        work list."""
        return self.filter(
            status__in=ENDED_STATUSES, source_deleted_at__isnull=True, finished_at__lt=ended_before
        )


class VideoAnalysisJob(models.Model):
    # Nested names for callers (VideoAnalysisJob.Status.QUEUED); defined at module level so that Meta's
    # constraints can name them too.
    Status = JobStatus
    Stage = JobStage

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="video_jobs")
    status = models.CharField(
        max_length=20,
        choices=Status.choices,
        default=Status.AWAITING_UPLOAD,
        editable=False,
    )
    stage = models.CharField(
        max_length=20,
        choices=Stage.choices,
        default=Stage.AWAITING_UPLOAD,
        editable=False,
    )
    progress = models.PositiveSmallIntegerField(default=0)

    # Where the object lives: generated by the server at initiate, never taken from the client.
    s3_bucket = models.CharField(max_length=255, editable=False)
    s3_key = models.CharField(max_length=1024, unique=True, editable=False)

    # What the client declared.
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True, default="")
    # NULL, not "", when absent: the unique constraint below only covers jobs that sent a key.
    idempotency_key = models.CharField(  # noqa: DJ001
        max_length=255, null=True, blank=True, editable=False
    )

    # A multipart upload (above VIDEO_JOBS_MULTIPART_THRESHOLD): S3's upload id, set once S3 created it, and
    # the part plan, fixed at initiate (every part but the last is exactly part_size bytes).
    upload_id = models.CharField(max_length=1024, blank=True, default="", db_default="", editable=False)
    part_size = models.BigIntegerField(null=True, blank=True, editable=False)
    part_count = models.PositiveIntegerField(null=True, blank=True, editable=False)

    # What verification saw.
    verified_at = models.DateTimeField(null=True, blank=True)
    object_size = models.BigIntegerField(null=True, blank=True)
    object_etag = models.CharField(max_length=255, blank=True, default="")

    # Queue.
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    run_after = models.DateTimeField(default=timezone.now)
    worker_id = models.CharField(max_length=255, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    # Outcome. error_message is for the client, in its terms; error_detail is for staff (the admin) and may
    # name what clients must never see: endpoints, buckets, hosts, temporary paths, worker ids.
    error_code = models.CharField(max_length=40, choices=ErrorCode.choices, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    # A default in the database too: processes of the previous release (during a rolling deploy) and bulk
    # inserts in SQL do not know the column.
    error_detail = models.TextField(blank=True, default="", db_default="")
    result = models.JSONField(null=True, blank=True)
    # When the source video was deleted (VIDEO_JOBS_RETAIN_SOURCE_DAYS after the job ended, or on the way to
    # deleting the job); result and artifacts stay. Such a job can no longer be re-verified or retried.
    source_deleted_at = models.DateTimeField(null=True, blank=True)

    # Written by the database's clock (services); these defaults only serve rows made some other way (tests).
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    upload_deadline = models.DateTimeField()
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = VideoAnalysisJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="video_job_status_valid",
                condition=Q(status__in=[choice.value for choice in JobStatus]),
            ),
            models.CheckConstraint(
                name="video_job_stage_valid",
                condition=Q(stage__in=[choice.value for choice in JobStage]),
            ),
            # Status and stage agree: a processing job is in one of the processing stages; otherwise the
            # stage is the status itself. A write that set one without the other would break progress
            # reporting and the admin's filters, so the database refuses it.
            models.CheckConstraint(
                name="video_job_status_stage_agree",
                condition=(Q(status=JobStatus.PROCESSING) & Q(stage__in=PROCESSING_STAGES))
                | (~Q(status=JobStatus.PROCESSING) & Q(stage=F("status"))),
            ),
            models.CheckConstraint(name="video_job_progress_0_100", condition=Q(progress__lte=100)),
            models.CheckConstraint(name="video_job_size_positive", condition=Q(size_bytes__gt=0)),
            # A retried initiate with the same Idempotency-Key finds the first job, per user.
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="video_job_owner_idempotency_key",
            ),
        ]
        indexes = [
            # The claim query: WHERE status='queued' AND run_after <= now ORDER BY run_after, created_at.
            # Partial, so its size follows the queue, not the table's history.
            models.Index(
                fields=["run_after", "created_at"],
                condition=Q(status="queued"),
                name="video_job_claimable_idx",
            ),
            # The lease-expiry sweep: WHERE status='processing' AND lease_expires_at < now.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="processing"),
                name="video_job_lease_idx",
            ),
            # The stuck-upload reconciler and admin filter: WHERE status='awaiting_upload' AND ... < now.
            models.Index(
                fields=["upload_deadline", "created_at"],
                condition=Q(status="awaiting_upload"),
                name="video_job_awaiting_idx",
            ),
            # The API list: WHERE owner_id = ? [AND status = ?] ORDER BY created_at DESC.
            models.Index(fields=["owner", "-created_at"], name="video_job_owner_created_idx"),
            # The quota check at initiate: a user's live jobs, counted per status, whatever their history.
            models.Index(
                fields=["owner", "status"],
                condition=Q(status__in=LIVE_STATUSES),
                name="video_job_owner_live_idx",
            ),
            # The quota at initiate: a user's jobs given up before a verified upload, whose upload URLs may
            # still be valid (WHERE owner_id = ? AND ... AND finished_at > now - the URLs' lifetime).
            models.Index(
                fields=["owner", "finished_at"],
                condition=Q(status__in=GIVEN_UP_STATUSES, verified_at__isnull=True),
                name="video_job_owner_given_up_idx",
            ),
            # The retention sweep: WHERE status IN (ended) AND source_deleted_at IS NULL AND finished_at < ?.
            # Partial, so it holds only the jobs whose source is still kept.
            models.Index(
                fields=["finished_at"],
                condition=Q(status__in=ENDED_STATUSES, source_deleted_at__isnull=True),
                name="video_job_retention_idx",
            ),
            # Counts per status for job_stats, the admin summary and metrics.
            models.Index(fields=["status"], name="video_job_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.id}, {self.status})"


class MetricCounter(models.Model):
    """One cumulative metric series shared by every process on every machine.

    In-process Prometheus counters would be wrong here: each gunicorn process and each worker would count
    only its own events and reset on restart. Events are added to these rows with an atomic
    ``UPDATE ... SET value = value + n`` instead (see ``video_jobs.ops.metrics``), and ``/metrics`` reads
    them.
    """

    name = models.CharField(max_length=100)
    # The series' labels as canonical JSON (sorted keys), e.g. {"outcome":"queued"}; "{}" for none.
    labels = models.CharField(max_length=255, default="{}")
    value = models.FloatField(default=0)

    class Meta:
        constraints = [
            # The increment's upsert target, and the scrape's lookup by name.
            models.UniqueConstraint(fields=["name", "labels"], name="metric_counter_series"),
        ]

    def __str__(self) -> str:
        return f"{self.name}{self.labels} = {self.value:g}"


class JobQuota(models.Model):
    """Limits staff gave one user instead of the defaults (VIDEO_JOBS_MAX_PENDING_UPLOADS,
    VIDEO_JOBS_MAX_ACTIVE_JOBS). A user without a row, or a limit left empty, has the default."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="video_job_quota"
    )
    max_pending_uploads = models.PositiveIntegerField(
        null=True, blank=True, help_text="Jobs awaiting their upload at once. Empty: the default."
    )
    max_active_jobs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Jobs queued or processing at once. Empty: the default."
    )

    class Meta:
        verbose_name = "job quota"

    def __str__(self) -> str:
        return f"quota of {self.user}"


class UploadTombstone(models.Model):
    """S3 may still hold, or receive, objects of a job whose row is gone: an upload URL handed out for it
    stays valid until it expires, and a worker may have stored an artifact late. Written in the transaction
    that deletes the job's row, however it is deleted (``services.strays``); the workers' sweep deletes the
    job's folder and aborts its multipart upload at ``sweep_after``, again once ``urls_expire_at`` has
    passed, and then drops the tombstone. Until then it counts against its owner's pending uploads."""

    # The deleted job's id: its folder (videos/<id>/) and key derive from it, as they did for the job.
    job_id = models.UUIDField(primary_key=True, editable=False)
    # Whose pending-uploads quota it counts against. No constraint: a tombstone outlives its owner.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    s3_bucket = models.CharField(max_length=255, editable=False)
    upload_id = models.CharField(max_length=1024, blank=True, default="", editable=False)
    # By the database's clock: when no URL handed out for the job can write any more, and the next sweep.
    urls_expire_at = models.DateTimeField()
    sweep_after = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [
            # The sweep: WHERE sweep_after <= now ORDER BY sweep_after.
            models.Index(fields=["sweep_after"], name="upload_tombstone_due_idx"),
            # The quota at initiate: WHERE owner_id = ? AND urls_expire_at > now.
            models.Index(fields=["owner", "urls_expire_at"], name="upload_tombstone_owner_idx"),
        ]

    def __str__(self) -> str:
        return f"tombstone of job {self.job_id}"


# How much of an API token the admin shows: enough to tell tokens apart, far too little to use one.
TOKEN_PREFIX_LENGTH = 6


class ApiToken(TokenProxy):
    """DRF's API token as the admin shows it: by its user and a prefix of its key, never the whole key.

    DRF's own token admin lists keys in plain text, and a token's ``str()`` is its key, which the admin
    repeats on its delete page, in its messages and in its history; this proxy changes only that.
    """

    class Meta:
        proxy = True
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.key_prefix} ({self.user})"

    @property
    def key_prefix(self) -> str:
        return f"{self.key[:TOKEN_PREFIX_LENGTH]}…"


# The webhooks' tables belong to this app (and its migrations); their code lives with the rest of webhooks.
from .webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: E402, F401
