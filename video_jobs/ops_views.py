"""Operator endpoints: ``/metrics`` for Prometheus and ``/healthz`` for load balancers and orchestrators."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import prometheus, storage

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


def _bucket_answers() -> bool:
    try:
        storage.check_bucket()
    except storage.StorageError:
        logger.exception("health check: the S3 bucket did not answer")
        return False
    return True


@require_safe
@never_cache
def healthz_view(request: HttpRequest) -> JsonResponse:
    """200 when the database and the S3 bucket answer, else 503. Public, so it names only what failed:
    the reason goes to the log."""
    checks = {
        "database": "ok" if _database_answers() else "failed",
        "s3": "ok" if _bucket_answers() else "failed",
    }
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
