"""Webhook deliveries are not kept forever: a delivery's payload repeats the job's filename and result
summary, so the workers' sweep deletes settled deliveries (delivered or given up) once they are older than
VIDEO_JOBS_WEBHOOK_RETAIN_DAYS. A pending delivery is left to its retries, which end within about a day."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings

from ..clock import database_now
from .models import DeliveryStatus, WebhookDelivery

logger = logging.getLogger(__name__)


def prune_deliveries(*, limit: int = 1000) -> int:
    """Delete at most ``limit`` settled deliveries written more than VIDEO_JOBS_WEBHOOK_RETAIN_DAYS ago (by
    the database's clock), oldest first; returns how many. 0 days keeps them forever.

    Oldest first by id, the primary key: the old rows are the first ones the index walks to, so a sweep
    costs the same whatever the table's size, with no index of its own.
    """
    days = int(settings.VIDEO_JOBS_WEBHOOK_RETAIN_DAYS)
    if days == 0:
        return 0
    settled = WebhookDelivery.objects.filter(
        status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED],
        created_at__lt=database_now() - timedelta(days=days),
    )
    ids = list(settled.order_by("id").values_list("id", flat=True)[:limit])
    if not ids:
        return 0
    deleted, _ = WebhookDelivery.objects.filter(pk__in=ids).delete()
    logger.info("%s webhook deliveries older than %s days deleted", deleted, days)
    return deleted
