"""Webhook endpoints that users register, and the outbox of deliveries to them.

A delivery row is one event for one endpoint. Rows are written in the same transaction as the job's status
change that causes the event (``outbox.record_job_event``), so the change and its notification commit or
roll back together; ``run_webhooks`` sends them afterwards, outside any transaction.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class EventType(models.TextChoices):
    JOB_QUEUED = "video_job.queued", "Job queued"
    """The upload was verified: the job waits for a worker."""
    JOB_DONE = "video_job.done", "Job done"
    """The analysis finished; the job's ``result`` holds it."""
    JOB_FAILED = "video_job.failed", "Job failed"
    """The job ended with a stable ``error_code``."""
    JOB_CANCELLED = "video_job.cancelled", "Job cancelled"
    """The job was cancelled before processing started."""
    PING = "ping", "Ping"
    """Sent on request (``POST .../test/``) to one endpoint, whatever it subscribes to."""


# What an endpoint may subscribe to (an empty list: all of them).
SUBSCRIBABLE_EVENTS = tuple(event for event in EventType if event != EventType.PING)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    """Waiting for its next attempt (or being attempted right now)."""
    DELIVERED = "delivered", "Delivered"
    """The endpoint answered 2xx."""
    FAILED = "failed", "Failed"
    """Given up: retries exhausted, or the endpoint was disabled."""


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=255, blank=True, default="")
    # Event types this endpoint receives; empty means every type, including types added later.
    events = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    # Why the service turned the endpoint off (410 Gone, days without a success); empty otherwise.
    disabled_reason = models.CharField(max_length=255, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    # The first failed attempt since the last success; None while the endpoint is healthy.
    failing_since = models.DateTimeField(null=True, blank=True)

    # Signing secrets, whsec_ + base64. Stored as they are: signing needs them. Shown to the owner only in
    # the answers to create and rotate-secret; never in the admin or the logs.
    secret = models.CharField(max_length=128, editable=False)
    # After a rotation the old secret signs beside the new one until it expires.
    previous_secret = models.CharField(max_length=128, blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            # The outbox insert: JOIN endpoints ON owner_id = <the job's owner> AND active. Partial, so an
            # owner without an active endpoint costs one probe of a small index.
            models.Index(fields=["owner"], condition=Q(active=True), name="webhook_endpoint_active_idx"),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    Status = DeliveryStatus

    id = models.BigAutoField(primary_key=True)
    # The event's id: the webhook-id header, the same on every retry and for every endpoint of one event.
    event_id = models.CharField(max_length=40, editable=False)
    event_type = models.CharField(max_length=40, choices=EventType.choices, editable=False)
    occurred_at = models.DateTimeField(editable=False)
    # No index of its own: webhook_delivery_endpoint_idx starts with it.
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    # The job the event is about (None for a ping). The payload keeps what the job was at the event.
    job = models.ForeignKey(
        "video_jobs.VideoAnalysisJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhook_deliveries",
    )
    # For job events, the job's columns as they were when the event happened (``result`` summarised);
    # for a ping, its data. The body is rendered from it at each attempt (bodies.render_body).
    payload = models.JSONField(editable=False)

    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, editable=False
    )
    # Attempts started, counted at the claim (an attempt whose dispatcher died counts too). The settle
    # is fenced on it, so a dispatcher whose claim expired and was taken over writes nothing.
    attempts = models.PositiveIntegerField(default=0, editable=False)
    # When the delivery is due; while an attempt runs, when its claim expires. None once settled.
    next_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The HTTP status of the last attempt; None when it got no answer (timeout, refused, connection error).
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, default="", editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.CheckConstraint(
                name="webhook_delivery_status_valid",
                condition=Q(status__in=[choice.value for choice in DeliveryStatus]),
            ),
            # One delivery per event and endpoint: a redelivery reuses the row (and its webhook-id).
            models.UniqueConstraint(fields=["event_id", "endpoint"], name="webhook_delivery_event_endpoint"),
        ]
        indexes = [
            # The dispatcher's claim: WHERE status='pending' AND next_attempt_at <= now ORDER BY
            # next_attempt_at. Partial, so its size follows the backlog, not the history.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due_idx",
            ),
            # /metrics: the oldest pending delivery, MIN(created_at) WHERE status='pending'.
            models.Index(
                fields=["created_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_pending_idx",
            ),
            # Failing an endpoint's pending deliveries when it is disabled; the endpoint's deliveries in the
            # admin.
            models.Index(fields=["endpoint", "status"], name="webhook_delivery_endpoint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} to {self.endpoint_id}"
