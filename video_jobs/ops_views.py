"""Operator endpoints: ``/metrics`` for Prometheus."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

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
