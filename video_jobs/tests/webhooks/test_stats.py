"""/metrics counts webhook deliveries by outcome and attempts by result, and shows the pending backlog."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from video_jobs.ops import metrics
from video_jobs.webhooks import deliveries
from video_jobs.webhooks.models import WebhookDelivery
from video_jobs.webhooks.transport import AttemptKind, AttemptResult

from ..support.jobs import make_job
from ..support.prometheus import scrape, value
from ..support.webhook_helpers import finish, make_endpoint

pytestmark = pytest.mark.django_db


def test_an_empty_service_shows_every_webhook_series_at_zero(ops_staff: Client) -> None:
    samples = scrape(ops_staff)
    assert value(samples, "video_jobs_webhook_deliveries_pending") == 0
    assert value(samples, "video_jobs_webhook_oldest_pending_age_seconds") == 0
    for outcome in ("delivered", "exhausted", "endpoint_disabled"):
        assert value(samples, "video_jobs_webhook_deliveries_total", outcome=outcome) == 0
    for result in ("success", "http_error", "timeout", "connection_error", "refused", "internal_error"):
        assert value(samples, "video_jobs_webhook_attempts_total", result=result) == 0


def test_deliveries_are_counted_by_outcome_and_the_oldest_pending_one_shows_its_age(
    ops_staff: Client, user: Any
) -> None:
    make_endpoint(user, "https://hooks.example.com/a")
    make_endpoint(user, "https://hooks.example.com/b")
    finish(make_job(user, "processing"))
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(minutes=10))
    first = deliveries.claim_due()
    assert first is not None
    deliveries.settle(delivery=first, result=AttemptResult(AttemptKind.SUCCESS, status_code=200))
    second = deliveries.claim_due()
    assert second is not None
    deliveries.settle(delivery=second, result=AttemptResult(AttemptKind.TIMEOUT, error="no answer"))
    metrics.flush()

    samples = scrape(ops_staff)

    assert value(samples, "video_jobs_webhook_deliveries_total", outcome="delivered") == 1
    assert value(samples, "video_jobs_webhook_attempts_total", result="success") == 1
    assert value(samples, "video_jobs_webhook_attempts_total", result="timeout") == 1
    assert value(samples, "video_jobs_webhook_deliveries_pending") == 1
    assert 600 <= value(samples, "video_jobs_webhook_oldest_pending_age_seconds") < 660
