"""The webhooks' part of ``/metrics``: deliveries by outcome, attempts by result, and the pending backlog.

Counters are the ``MetricCounter`` rows that ``deliveries`` adds to; the gauges are read at scrape time
over the partial index of pending deliveries, so they cost what the backlog costs, not the history.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from ..ops import metrics
from .deliveries import ATTEMPTS, DELIVERIES, FINAL_OUTCOMES
from .models import DeliveryStatus, WebhookDelivery
from .transport import AttemptKind


def metric_families(counters: Mapping[str, Mapping[str, float]]) -> Iterator[Metric]:
    """``counters``: every MetricCounter row, by name then labels key (as the collector reads them)."""
    pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).aggregate(
        count=Count("pk"), oldest=Min("created_at")
    )
    yield GaugeMetricFamily(
        "video_jobs_webhook_deliveries_pending",
        "Webhook deliveries waiting for their first or next attempt (or being attempted).",
        value=pending["count"],
    )
    oldest = pending["oldest"]
    yield GaugeMetricFamily(
        "video_jobs_webhook_oldest_pending_age_seconds",
        "How long ago the oldest pending webhook delivery's event happened; 0 when none is pending.",
        value=max(0.0, (timezone.now() - oldest).total_seconds()) if oldest is not None else 0.0,
    )
    yield metrics.labelled_counter(
        DELIVERIES,
        "Webhook deliveries that ended, by outcome: delivered (2xx), exhausted (the retry schedule ran out), "
        "endpoint_disabled (410, days without a success, or turned off).",
        label="outcome",
        values=[outcome.value for outcome in FINAL_OUTCOMES],
        counters=counters,
    )
    yield metrics.labelled_counter(
        ATTEMPTS,
        "Webhook delivery attempts by result: success (2xx), http_error (any other status), timeout, "
        "connection_error, refused (the URL now resolves to an address we do not send to), internal_error.",
        label="result",
        values=[kind.value for kind in AttemptKind],
        counters=counters,
    )
