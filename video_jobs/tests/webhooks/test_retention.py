"""Webhook deliveries do not outlive VIDEO_JOBS_WEBHOOK_RETAIN_DAYS once settled: the workers' sweep deletes
them (their payload repeats a job's filename and result), oldest first and a bounded number a sweep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from video_jobs.models import VideoAnalysisJob
from video_jobs.webhooks import outbox
from video_jobs.webhooks.models import DeliveryStatus, EventType, WebhookDelivery, WebhookEndpoint
from video_jobs.webhooks.retention import prune_deliveries
from video_jobs.worker.loop import Worker

from ..support.jobs import make_job
from ..support.webhook_helpers import make_endpoint

pytestmark = pytest.mark.django_db


def deliveries(user: Any, count: int, status: str, *, days_ago: float) -> list[int]:
    """``count`` deliveries of job events, written ``days_ago`` and left in ``status``."""
    if not WebhookEndpoint.objects.filter(owner=user).exists():
        make_endpoint(user, "https://example.com/hook")
    ids = []
    for _ in range(count):
        job = make_job(user, VideoAnalysisJob.Status.DONE)
        outbox.record_job_event(job=job, event_type=EventType.JOB_DONE)
        delivery = WebhookDelivery.objects.filter(job=job).get()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=status, created_at=timezone.now() - timedelta(days=days_ago)
        )
        ids.append(delivery.pk)
    return ids


def kept(ids: list[int]) -> list[int]:
    return sorted(WebhookDelivery.objects.filter(pk__in=ids).values_list("pk", flat=True))


@override_settings(VIDEO_JOBS_WEBHOOK_RETAIN_DAYS=30)
def test_the_sweep_deletes_settled_deliveries_past_retention_and_keeps_the_rest(
    user: Any, make_worker: Callable[..., Worker]
) -> None:
    old = deliveries(user, 2, DeliveryStatus.DELIVERED, days_ago=31) + deliveries(
        user, 1, DeliveryStatus.FAILED, days_ago=40
    )
    still_tried = deliveries(user, 1, DeliveryStatus.PENDING, days_ago=31)
    recent = deliveries(user, 1, DeliveryStatus.DELIVERED, days_ago=29)

    make_worker().sweep()

    assert kept(old) == []
    assert kept(still_tried + recent) == sorted(still_tried + recent)


@override_settings(VIDEO_JOBS_WEBHOOK_RETAIN_DAYS=30)
def test_a_sweep_deletes_a_bounded_number_oldest_first(user: Any) -> None:
    old = deliveries(user, 3, DeliveryStatus.DELIVERED, days_ago=31)

    assert prune_deliveries(limit=2) == 2
    assert kept(old) == old[2:]
    assert prune_deliveries(limit=2) == 1
    assert prune_deliveries(limit=2) == 0


@override_settings(VIDEO_JOBS_WEBHOOK_RETAIN_DAYS=0)
def test_zero_days_keeps_deliveries_forever(user: Any) -> None:
    old = deliveries(user, 1, DeliveryStatus.DELIVERED, days_ago=3650)
    assert prune_deliveries() == 0
    assert kept(old) == old
