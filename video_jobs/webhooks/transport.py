"""One delivery attempt over HTTP: to an address that passed the SSRF checks, within a deadline.

The host is resolved once (``ssrf.check``) and the socket is connected to one of exactly those addresses;
the request still names the host (Host header, TLS SNI and certificate check), so virtual hosting and
HTTPS work as usual. Redirects are never followed (http.client does not): a 3xx is a failure like any
other non-2xx. The whole attempt, from the lookup to the response's headers, has ``timeout`` seconds: a
watchdog shuts the socket down at the deadline, so a server that drips its answer a byte at a time cannot
hold a sender for longer, and the lookup has at most ``VIDEO_JOBS_WEBHOOK_DNS_TIMEOUT`` of it (a resolver
that never answers fails the attempt as a timeout). The response body is never read.
"""

from __future__ import annotations

import enum
import http.client
import socket
import ssl
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from django.conf import settings

from . import ssrf

USER_AGENT = "Cricksy-Webhooks/1.0"


class AttemptKind(enum.StrEnum):
    """How an attempt ended. The values double as the metric label."""

    SUCCESS = "success"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    REFUSED = "refused"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class AttemptResult:
    kind: AttemptKind
    status_code: int | None = None
    # Why it failed, for the admin and the endpoint's owner; empty on success.
    error: str = ""
    # Seconds the endpoint asked us to wait (Retry-After), when it did.
    retry_after: float | None = None
    seconds: float = 0.0


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to ``address`` that talks to the server as ``host``: no DNS lookup of its own."""

    def __init__(self, target: ssrf.Target, address: ssrf.IPAddress, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address
        self._tls = target.scheme == "https"
        # Only for the Host header, which leaves out the scheme's default port.
        self.default_port = 443 if self._tls else 80

    def connect(self) -> None:
        sock = socket.create_connection((str(self._address), self.port), self.timeout)
        if self._tls:
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²", which isdigit() also takes
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def post(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> AttemptResult:
    """POST ``body`` to ``url``; never raises for what the network or the endpoint does."""
    started = time.monotonic()
    deadline = started + timeout
    try:
        target = ssrf.check(url, lookup_timeout=min(timeout, float(settings.VIDEO_JOBS_WEBHOOK_DNS_TIMEOUT)))
    except ssrf.LookupTimedOut as exc:
        return _ended(started, AttemptKind.TIMEOUT, str(exc))
    except ssrf.RefusedURL as exc:
        return _ended(started, AttemptKind.REFUSED, f"refused: {exc}")
    errors = []
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            status, reason, retry_after = _exchange(target, address, body, headers, remaining)
        except TimeoutError:
            break
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{address}: {type(exc).__name__}: {exc}")
            if isinstance(exc, ConnectionRefusedError):
                continue  # nothing listens there: try the host's next address
            return _ended(started, AttemptKind.CONNECTION_ERROR, "; ".join(errors))
        if 200 <= status < 300:
            return _ended(started, AttemptKind.SUCCESS, status_code=status)
        return _ended(
            started,
            AttemptKind.HTTP_ERROR,
            f"HTTP {status} {reason}".strip(),
            status_code=status,
            retry_after=retry_after,
        )
    if errors and time.monotonic() < deadline:
        return _ended(started, AttemptKind.CONNECTION_ERROR, "; ".join(errors))
    return _ended(started, AttemptKind.TIMEOUT, f"no answer within {timeout:g}s")


def _ended(
    started: float,
    kind: AttemptKind,
    error: str = "",
    *,
    status_code: int | None = None,
    retry_after: float | None = None,
) -> AttemptResult:
    return AttemptResult(
        kind,
        status_code=status_code,
        error=error[:500],
        retry_after=retry_after,
        seconds=time.monotonic() - started,
    )


def _exchange(
    target: ssrf.Target, address: ssrf.IPAddress, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int, str, float | None]:
    """Send the request to ``address`` and read the answer's status line and headers, within ``timeout``.

    Returns (status, reason, Retry-After seconds). Raises TimeoutError at the deadline, OSError or
    HTTPException for everything else that went wrong.
    """
    connection = _PinnedConnection(target, address, timeout=timeout)
    expired = threading.Event()

    def shut() -> None:
        # Wakes a recv() blocked in the sending thread, which then fails; `expired` says why.
        expired.set()
        sock = connection.sock
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, shut)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={
                **headers,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Connection": "close",
            },
        )
        response = connection.getresponse()
        return response.status, response.reason, retry_after_seconds(response.getheader("Retry-After"))
    except (OSError, http.client.HTTPException):
        if expired.is_set():
            raise TimeoutError from None
        raise
    finally:
        watchdog.cancel()
        connection.close()
