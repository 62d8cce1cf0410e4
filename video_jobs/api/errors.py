"""Every error the API answers carries a stable ``error_code`` beside its message.

DRF's own errors (field errors, authentication, not found, throttling...) answer ``{"detail": ...}`` or a
map of field errors; this handler adds the ``error_code`` that the views' own errors (``storage_unavailable``,
``quota_exceeded``, ...) already carry, so a client branches on one key whichever layer refused the call.
Field errors stay where they were (``{"error_code": "invalid", "size_bytes": ["..."]}``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

# DRF's exception codes, kept as they are spelled there: clients branch on them, so they never change.
INVALID = exceptions.ValidationError.default_code  # "invalid"
NOT_FOUND = exceptions.NotFound.default_code  # "not_found"


def error_code_of(exc: Exception) -> str:
    if isinstance(exc, Http404):
        return NOT_FOUND
    if isinstance(exc, PermissionDenied):
        return str(exceptions.PermissionDenied.default_code)
    if isinstance(exc, exceptions.APIException):
        return str(exc.default_code)
    return "error"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict):
        response.data = {"error_code": error_code_of(exc), **data}
    else:
        # ValidationError("...") or a list: the errors of the request as a whole.
        response.data = {"error_code": error_code_of(exc), "non_field_errors": data}
    return response
