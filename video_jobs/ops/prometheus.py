"""The ``/metrics`` exposition: a prometheus-client collector that reads the database at scrape time.

Gauges (jobs per status, stuck uploads, stale processing, oldest queued job) come from ``stats.job_stats``,
the same numbers as the admin summary and ``job_stats``. Counters and histograms come from the
``MetricCounter`` rows that ``video_jobs.ops.metrics`` adds to. Nothing is kept in process memory, so any
gunicorn process answers a scrape with the same numbers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder

from ..models import MetricCounter, Outcome
from ..webhooks.stats import metric_families as webhook_metric_families
from . import metrics
from .stats import job_stats

# Outcomes of a verification that asked S3 (not_eligible never does, so it is never counted).
VERIFICATION_OUTCOMES = [outcome.value for outcome in Outcome if outcome != Outcome.NOT_ELIGIBLE]

Series = dict[str, float]  # labels_key -> value


def _histogram_family(histogram: metrics.Histogram, counters: dict[str, Series]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(
        histogram.name, histogram.documentation, labels=list(histogram.label_names)
    )
    # Bucket rows hold the observations that fell in each bucket; Prometheus wants running totals.
    per_series: dict[str, dict[float, float]] = defaultdict(dict)
    for labels in histogram.known_labels:
        per_series[metrics.labels_key(labels)] = {}
    for key, value in counters.get(histogram.name, {}).items():
        labels = json.loads(key)
        bound = float(labels.pop("le"))
        per_series[metrics.labels_key(labels)][bound] = value
    sums = counters.get(f"{histogram.name}_sum", {})
    for key, counts in sorted(per_series.items()):
        labels = json.loads(key)
        buckets, running = [], 0.0
        for bound in [*histogram.buckets, float("inf")]:
            running += counts.get(float(bound), 0.0)
            buckets.append((metrics.Histogram.bucket_label(bound), running))
        family.add_metric(
            [labels[name] for name in histogram.label_names], buckets, sum_value=sums.get(key, 0.0)
        )
    return family


class JobsCollector:
    """Every metric of the service, computed from the database when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        stats = job_stats()
        jobs = GaugeMetricFamily("video_jobs_jobs", "Jobs per status right now.", labels=["status"])
        for status, count in stats.by_status.items():
            jobs.add_metric([status], count)
        yield jobs
        yield GaugeMetricFamily(
            "video_jobs_stuck_uploads",
            f"Jobs awaiting their upload for more than {stats.stuck_upload_minutes} minutes "
            "(VIDEO_JOBS_STUCK_UPLOAD_MINUTES).",
            value=stats.stuck_uploads,
        )
        yield GaugeMetricFamily(
            "video_jobs_stale_processing",
            "Processing jobs whose worker lease expired (crashed or cut-off worker).",
            value=stats.stale_processing,
        )
        age = stats.oldest_queued_age
        yield GaugeMetricFamily(
            "video_jobs_oldest_queued_age_seconds",
            "How long the oldest queued job has waited since it was queued; 0 when the queue is empty.",
            value=age.total_seconds() if age is not None else 0.0,
        )

        counters: dict[str, Series] = defaultdict(dict)
        for name, key, value in MetricCounter.objects.values_list("name", "labels", "value"):
            counters[name][key] = value
        yield metrics.labelled_counter(
            metrics.UPLOAD_VERIFICATIONS,
            "Upload verifications (HeadObject of a job's key) by outcome, from the API, the admin and "
            "the upload reconciler.",
            label="outcome",
            values=VERIFICATION_OUTCOMES,
            counters=counters,
        )
        yield CounterMetricFamily(
            metrics.DOWNLOAD_MISSING,
            "Worker downloads that met a 404. Must stay 0: only verified uploads are ever queued.",
            value=counters[metrics.DOWNLOAD_MISSING].get(metrics.labels_key(None), 0.0),
        )
        for histogram in (metrics.JOB_DURATION, metrics.CLAIM_LATENCY):
            yield _histogram_family(histogram, counters)
        yield from webhook_metric_families(counters)


def exposition(accept_header: str) -> tuple[bytes, str]:
    """The metrics in the format the scraper asked for (Prometheus text, or OpenMetrics), and its type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobsCollector())
    encoder: Callable[[CollectorRegistry], bytes]
    encoder, content_type = choose_encoder(accept_header)
    return encoder(registry), content_type
