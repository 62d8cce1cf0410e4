"""Operator endpoints: ``/metrics`` for Prometheus; ``/healthz/live`` and ``/healthz/ready`` (``/healthz``)
for load balancers and orchestrators."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError, connection
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from ..s3 import storage
from . import prometheus

logger = logging.getLogger(__name__)


def _metrics_refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the caller may read the metrics: a staff session, or the configured bearer token."""
    user = request.user
    if user.is_authenticated and user.is_active and user.is_staff:
        return None
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        token = settings.VIDEO_JOBS_METRICS_TOKEN
        # An empty setting turns token access off: an empty bearer must never match it.
        if token and constant_time_compare(credentials.strip(), token):
            return None
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    if user.is_authenticated:
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    response = HttpResponse("Authentication required\n", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@require_safe
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    body, content_type = prometheus.exposition(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.exception("health check: the database did not answer")
        return False
    return True


class _CachedAnswer:
    """The last answer of a check, reused for a few seconds (per process; thread-safe, and one probe at a
    time: while one thread asks S3, the others take the last answer instead of queueing up behind it)."""

    def __init__(self, probe: Callable[[], bool]) -> None:
        self._probe = probe
        self._lock = threading.Lock()
        self._answer: bool | None = None
        self._expires = 0.0

    def get(self, max_age: float) -> bool:
        answer = self._answer
        if answer is not None and time.monotonic() < self._expires:
            return answer
        # Without an answer yet, wait for the probe in flight rather than guess.
        if not self._lock.acquire(blocking=answer is None):
            return bool(answer)
        try:
            if self._answer is None or time.monotonic() >= self._expires:
                self._answer = self._probe()
                self._expires = time.monotonic() + max_age
            return self._answer
        finally:
            self._lock.release()

    def forget(self) -> None:
        self._answer = None


def _bucket_answers() -> bool:
    try:
        storage.check_bucket()
    except storage.StorageError:
        logger.exception("health check: the S3 bucket did not answer")
        return False
    return True


_s3 = _CachedAnswer(_bucket_answers)


@receiver(setting_changed)
def _forget_s3_answer(*, setting: str, **kwargs: Any) -> None:
    # An answer kept for as long as the setting said then: tests change the setting to start afresh.
    if setting == "VIDEO_JOBS_HEALTH_S3_CACHE_SECONDS":
        _s3.forget()


@require_safe
@never_cache
def live_view(request: HttpRequest) -> JsonResponse:
    """Liveness: this process answers HTTP. Touches no dependency, so a database or S3 outage never makes an
    orchestrator restart healthy processes."""
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
def ready_view(request: HttpRequest) -> JsonResponse:
    """Readiness (also ``/healthz``): 200 when the database and the S3 bucket answer, else 503. The S3
    answer is reused for VIDEO_JOBS_HEALTH_S3_CACHE_SECONDS. Public, so it names only what failed: the
    reason goes to the log."""
    checks = {
        "database": "ok" if _database_answers() else "failed",
        "s3": "ok" if _s3.get(settings.VIDEO_JOBS_HEALTH_S3_CACHE_SECONDS) else "failed",
    }
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
