"""Recording metric events in the database, so that every process on every machine adds to the same numbers.

The service runs as several gunicorn processes and many worker processes on many machines; an in-process
Prometheus counter would count only its own process and start from zero after each restart. Events are
therefore added to ``MetricCounter`` rows with an atomic ``UPDATE ... SET value = value + n``, and
``/metrics`` (``video_jobs.ops.prometheus``) reads them at scrape time.

Histograms are cumulative, as Prometheus expects (``rate()`` and ``histogram_quantile()`` work on them): an
observation adds 1 to the row of the bucket it falls in and its value to a ``_sum`` row; the exporter
accumulates the buckets. Scraping costs one small query whatever the size of the jobs table.

Recording never raises: a metric must not change the outcome of the work it counts. Callers record after
their own transaction, never inside one that does network I/O. ``labelled_counter`` reads a counter back the
way every exporter of one (the jobs' and the webhooks') needs it.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import json
import logging
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from django.db import DatabaseError, transaction
from django.db.models import F
from prometheus_client.core import CounterMetricFamily
from prometheus_client.utils import floatToGoString

from ..models import MetricCounter, VideoAnalysisJob

logger = logging.getLogger(__name__)

Status = VideoAnalysisJob.Status

# Counter series (exported with a ``_total`` suffix).
UPLOAD_VERIFICATIONS = "video_jobs_upload_verifications"
DOWNLOAD_MISSING = "video_jobs_download_missing"


def labels_key(labels: Mapping[str, str] | None) -> str:
    """The canonical form of a label set, as stored in ``MetricCounter.labels``."""
    return _labels_key(tuple(sorted((labels or {}).items())))


@functools.lru_cache(maxsize=1024)
def _labels_key(items: tuple[tuple[str, str], ...]) -> str:
    # Cached: a busy worker spells the same few label sets twice per job.
    return json.dumps(dict(items), separators=(",", ":"))


def _add(name: str, key: str, amount: float) -> None:
    series = MetricCounter.objects.filter(name=name, labels=key)
    if series.update(value=F("value") + amount) == 0:
        # The series' first event: create the row (if another process creates it at the same moment, the
        # unique constraint keeps one and ignore_conflicts the other), then add as usual.
        MetricCounter.objects.bulk_create([MetricCounter(name=name, labels=key)], ignore_conflicts=True)
        series.update(value=F("value") + amount)


class _Buffer:
    """Additions held in memory and written in one transaction by ``flush()``.

    A busy worker records two observations per job; writing each at once would triple the round trips
    of a job's claim and finish. The worker buffers and flushes every few seconds and when it stops, so a
    SIGKILL loses at most those seconds of observations (never a job).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[tuple[str, str], float] = {}

    def add(self, additions: list[tuple[str, str, float]]) -> None:
        with self.lock:
            for name, key, amount in additions:
                self.pending[(name, key)] = self.pending.get((name, key), 0) + amount

    def take(self) -> list[tuple[str, str, float]]:
        with self.lock:
            taken, self.pending = self.pending, {}
        return [(name, key, amount) for (name, key), amount in taken.items()]


_buffer: _Buffer | None = None


@contextlib.contextmanager
def buffered() -> Iterator[None]:
    """Inside the block this process holds its observations until ``flush()``; all are written at its end.

    The worker runs inside one; the API does not (a verification is rare next to its own queries).
    """
    global _buffer
    previous, _buffer = _buffer, _Buffer()
    try:
        yield
    finally:
        flush()
        _buffer = previous


def flush() -> None:
    """Write the observations held in memory, if any, in one transaction."""
    if _buffer is not None:
        additions = _buffer.take()
        if additions:
            _write(additions)


def _record(additions: list[tuple[str, str, float]]) -> None:
    if _buffer is not None:
        _buffer.add(additions)
    else:
        _write(additions)


def _write(additions: list[tuple[str, str, float]]) -> None:
    try:
        # A savepoint when the caller is inside a transaction, so that a failed increment cannot poison it.
        with transaction.atomic():
            for name, key, amount in additions:
                _add(name, key, amount)
    except DatabaseError:
        logger.exception("metric not recorded: %s", additions)


def record_event(name: str, labels: Mapping[str, str] | None = None, amount: float = 1) -> None:
    """Add ``amount`` to the counter series ``name{labels}``."""
    _record([(name, labels_key(labels), amount)])


def labelled_counter(
    name: str,
    documentation: str,
    *,
    label: str,
    values: Iterable[str],
    counters: Mapping[str, Mapping[str, float]],
) -> CounterMetricFamily:
    """The counter ``name`` split by ``label``, a series for each of ``values``: one never recorded reads 0,
    so that dashboards and alerts see it from the start. ``counters``: every MetricCounter row, by name then
    labels key."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    recorded = counters.get(name, {})
    for value in values:
        family.add_metric([value], recorded.get(labels_key({label: value}), 0.0))
    return family


@dataclass(frozen=True)
class Histogram:
    name: str
    documentation: str
    # Upper bounds in ascending order; +Inf is implied.
    buckets: tuple[float, ...]
    label_names: tuple[str, ...] = ()
    # Series exported even before their first observation, so that dashboards and alerts see a 0.
    known_labels: tuple[Mapping[str, str], ...] = ({},)

    @staticmethod
    def bucket_label(bound: float) -> str:
        """The ``le`` label of a bucket, spelled as Prometheus spells it ("30.0", "+Inf")."""
        return str(floatToGoString(bound))  # type: ignore[no-untyped-call]  # untyped in prometheus_client

    @functools.cached_property
    def _bucket_labels(self) -> tuple[str, ...]:
        return tuple(self.bucket_label(bound) for bound in (*self.buckets, math.inf))

    def bucket_of(self, value: float) -> str:
        # The first bound >= value; past the last one, +Inf.
        return self._bucket_labels[bisect.bisect_left(self.buckets, value)]

    def observe(self, value: float, labels: Mapping[str, str] | None = None) -> None:
        labels = dict(labels or {})
        _record(
            [
                (self.name, labels_key({**labels, "le": self.bucket_of(value)}), 1),
                (self.name + "_sum", labels_key(labels), value),
            ]
        )


JOB_DURATION = Histogram(
    "video_jobs_job_duration_seconds",
    "Processing time of jobs that ended, from the claim that ran them (started_at) to finished_at.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
    label_names=("status",),
    known_labels=({"status": Status.DONE.value}, {"status": Status.FAILED.value}),
)
CLAIM_LATENCY = Histogram(
    "video_jobs_claim_latency_seconds",
    "Claim-to-start latency: time a job waited in the queue, from queued_at to a worker claiming it.",
    buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600),
)


def observe_claim(job: VideoAnalysisJob) -> None:
    """A worker just claimed ``job``: observe how long it waited in the queue."""
    if job.queued_at is not None and job.started_at is not None:
        CLAIM_LATENCY.observe(max(0.0, (job.started_at - job.queued_at).total_seconds()))


def observe_transition(job: VideoAnalysisJob) -> None:
    """``job`` just moved; when it ended after a worker had started it, observe how long that took."""
    ended = job.status in (Status.DONE, Status.FAILED)
    if ended and job.started_at is not None and job.finished_at is not None:
        seconds = max(0.0, (job.finished_at - job.started_at).total_seconds())
        JOB_DURATION.observe(seconds, {"status": job.status})
