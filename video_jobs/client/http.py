"""HTTP with retries: the API's calls and the PUTs to S3 share one policy.

Retried with exponential backoff and jitter: 5xx answers, 429 (after its Retry-After when it gives one),
timeouts and dropped connections. Any other 4xx is a refusal (``Refused``); running out of tries is
``Unreachable``. Exit codes follow from those two (see ``cli``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

logger = logging.getLogger(__name__)

# Seconds to wait for a connection and for each read of an answer.
TIMEOUT = (10.0, 120.0)
# upload-complete assembles the parts in S3 before it answers: minutes for tens of gigabytes.
ASSEMBLY_TIMEOUT = (10.0, 900.0)


class ClientError(Exception):
    """Base of the failures the command reports."""


class Refused(ClientError):
    """The server (or S3) answered 4xx: retrying the same request will not help."""

    def __init__(self, status: int, body: Any, what: str) -> None:
        super().__init__(f"{what}: {plain(body)} (HTTP {status})")
        self.status = status
        self.body = body


def plain(body: Any) -> str:
    """An error body as one line a person reads: the API's ``detail`` (and its field errors as
    ``field: message``), never a dict's repr."""
    if isinstance(body, dict):
        if "detail" in body:
            return " ".join(str(body["detail"]).split())
        return "; ".join(f"{field}: {plain(errors)}" for field, errors in body.items())
    if isinstance(body, list):
        return " ".join(plain(item) for item in body)
    return " ".join(str(body).split())[:200] or "no reason given"


class Unreachable(ClientError):
    """The server or S3 could not be reached, or kept failing, after every retry."""


@dataclass(frozen=True)
class Retry:
    """How often and how long to retry: ``tries`` attempts in all, backoff from ``base`` seconds doubling up
    to ``ceiling``."""

    tries: int = 6
    base: float = 0.5
    ceiling: float = 20.0

    def pause(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.ceiling)
        ceiling = min(self.ceiling, self.base * float(2**attempt))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def _transient(response: requests.Response) -> bool:
    return response.status_code >= 500 or response.status_code in (408, 429)


def send(
    what: str,
    request: Callable[[], requests.Response],
    *,
    retry: Retry,
    accept: tuple[int, ...] = (),
) -> requests.Response:
    """Run ``request`` until it answers 2xx (or a status in ``accept``); retry what is transient."""
    for attempt in range(retry.tries):
        try:
            response = request()
        except requests.Timeout:
            problem: str = "timed out"
            retry_after = None
        except requests.ConnectionError:
            problem, retry_after = "could not connect", None
        else:
            if response.ok or response.status_code in accept:
                return response
            if not _transient(response):
                raise Refused(response.status_code, _body(response), what)
            problem = f"answered {response.status_code}"
            retry_after = response.headers.get("Retry-After")
        if attempt + 1 < retry.tries:
            pause = retry.pause(attempt, retry_after)
            logger.info("%s %s; trying again in %.1fs", what, problem, pause)
            time.sleep(pause)
    raise Unreachable(f"{what}: {problem} after {retry.tries} tries")


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


class Api:
    """The video jobs API of one server, as one user (token)."""

    def __init__(self, server: str, token: str, *, retry: Retry | None = None) -> None:
        self.base = server.rstrip("/") + "/api/video-jobs/"
        self.retry = retry or Retry()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        accept: tuple[int, ...] = (),
        timeout: tuple[float, float] = TIMEOUT,
    ) -> requests.Response:
        url = self.base + path

        def request() -> requests.Response:
            return self.session.request(method, url, json=json, headers=headers, timeout=timeout)

        return send(f"{method} {url}", request, retry=self.retry, accept=accept)
