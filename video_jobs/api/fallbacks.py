"""What answers under ``/api/`` when no view does: a route off by its trailing slash is served as the route
(``OptionalTrailingSlash``), and Django's own 400, 404 and 500 pages are the API's JSON error body there
(``bad_request``, ``not_found``, ``server_error``: the project's handler400/404/500). Elsewhere (the admin,
the coaches' pages) Django's HTML pages stay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import get_urlconf, is_valid_path
from django.views import defaults

API_PREFIX = "/api/"


def _in_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX) or request.path_info == API_PREFIX.rstrip("/")


class OptionalTrailingSlash:
    """Every API route answers with or without its trailing slash, POST included: Django's APPEND_SLASH
    would answer a 301 that drops a POST's body (or, with DEBUG on, raise). A path under /api/ that matches
    no route, but does with its last slash added or removed, is served as that route; one that matches none
    either way is the JSON 404 here, DEBUG or not (with DEBUG on Django would answer its HTML page)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if _in_api(request):
            urlconf = getattr(request, "urlconf", None) or get_urlconf()
            other = path[:-1] if path.endswith("/") else f"{path}/"
            if not is_valid_path(path, urlconf):
                if not is_valid_path(other, urlconf):
                    return not_found(request, Http404(path))
                request.path = request.path.removesuffix(path) + other
                request.path_info = other
        return self.get_response(request)


def _error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"error_code": code, "detail": detail}, status=status)


def bad_request(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    if _in_api(request):
        return _error("bad_request", "The request was refused.", 400)
    return defaults.bad_request(request, exception, **kwargs)


def not_found(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    if _in_api(request):
        return _error("not_found", "No such route: see /api/ for the API's docs.", 404)
    return defaults.page_not_found(request, exception, **kwargs)


def server_error(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    if _in_api(request):
        return _error("error", "Something went wrong on our side; retry later.", 500)
    return defaults.server_error(request, **kwargs)
