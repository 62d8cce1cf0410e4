"""One attempt over real HTTP to a receiver on 127.0.0.1: 2xx succeeds, everything else fails (redirects
not followed), within one deadline for the whole attempt, to the address that was checked."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from video_jobs.s3.embedded import free_port
from video_jobs.webhooks import transport
from video_jobs.webhooks.transport import AttemptKind

from ..support.hanging_resolver import hanging_resolver
from ..support.webhook_receiver import Receiver, Reply

HEADERS = {"webhook-id": "msg_1", "webhook-timestamp": "0", "webhook-signature": "v1,x"}


def post(url: str, timeout: float = 5.0) -> transport.AttemptResult:
    return transport.post(url=url, body=b'{"type":"ping"}', headers=HEADERS, timeout=timeout)


def test_a_2xx_answer_is_a_success(receiver: Receiver, allow_private: None) -> None:
    receiver.script(Reply(status=204))
    result = post(receiver.url())
    assert (result.kind, result.status_code, result.error) == (AttemptKind.SUCCESS, 204, "")
    [received] = receiver.all()
    assert received.body == b'{"type":"ping"}'
    assert received.headers["content-type"] == "application/json"
    assert received.headers["webhook-id"] == "msg_1"


@pytest.mark.parametrize("status", [301, 302, 400, 404, 500])
def test_any_other_answer_is_a_failure_and_redirects_are_not_followed(
    receiver: Receiver, allow_private: None, status: int
) -> None:
    receiver.script(Reply(status=status, headers={"Location": receiver.url("/elsewhere")}))
    result = post(receiver.url())
    assert (result.kind, result.status_code) == (AttemptKind.HTTP_ERROR, status)
    assert result.error.startswith(f"HTTP {status}")
    assert [received.path for received in receiver.all()] == ["/hooks"]


def test_a_lookup_that_never_answers_fails_the_attempt_as_a_timeout_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with hanging_resolver(monkeypatch) as resolver:
        started = time.monotonic()
        result = post("https://hooks.example.com/x", timeout=0.5)
        took = time.monotonic() - started
        assert resolver.asked == ["hooks.example.com"]
    assert result.kind == AttemptKind.TIMEOUT
    assert "took longer than 0.5s" in result.error
    assert 0.5 <= took < 1.5


def test_an_endpoint_slower_than_the_timeout_fails_at_the_deadline(
    receiver: Receiver, allow_private: None
) -> None:
    release = threading.Event()
    receiver.script(Reply(hold=release))
    started = time.monotonic()
    result = post(receiver.url(), timeout=0.5)
    release.set()
    assert result.kind == AttemptKind.TIMEOUT
    assert result.status_code is None
    assert 0.5 <= time.monotonic() - started < 2.0


@pytest.fixture
def dripping_server() -> Iterator[int]:
    """A server that answers one byte of its status line every 0.1 s, for ever: each read succeeds in time,
    only a deadline for the whole attempt stops it."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            while not stop.wait(0.1):
                try:
                    conn.sendall(b"H")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()


def test_a_server_that_drips_its_answer_is_cut_at_the_deadline(
    dripping_server: int, allow_private: None
) -> None:
    started = time.monotonic()
    result = post(f"http://127.0.0.1:{dripping_server}/hook", timeout=0.6)
    assert result.kind == AttemptKind.TIMEOUT
    assert time.monotonic() - started < 1.5


def test_nothing_listening_is_a_connection_error(allow_private: None) -> None:
    result = post(f"http://127.0.0.1:{free_port()}/hook")
    assert result.kind == AttemptKind.CONNECTION_ERROR
    assert "ConnectionRefusedError" in result.error


def test_a_private_address_is_refused_without_a_request(receiver: Receiver) -> None:
    result = post(receiver.url())
    assert result.kind == AttemptKind.REFUSED
    assert "loopback" in result.error
    assert receiver.all() == []


def test_the_host_is_resolved_once_and_the_checked_address_is_the_one_connected_to(
    receiver: Receiver, allow_private: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rebinding resolver: its first answer is the receiver, any later one an address where nothing
    # listens (loopback still: tests send nothing elsewhere). Numeric hosts are no lookup: passed through.
    answers = iter(["127.0.0.1", "127.0.0.2"])
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    result = post(f"http://hooks.example.test:{receiver.port}/hooks")

    assert result.kind == AttemptKind.SUCCESS
    assert lookups == ["hooks.example.test"]
    [received] = receiver.all()
    assert received.headers["host"] == f"hooks.example.test:{receiver.port}"


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert transport.retry_after_seconds("120") == 120.0
    assert (
        transport.retry_after_seconds(format_datetime(now + timedelta(minutes=5), usegmt=True), now=now)
        == 300.0
    )
    assert (
        transport.retry_after_seconds(format_datetime(now - timedelta(minutes=5), usegmt=True), now=now)
        == 0.0
    )
    assert transport.retry_after_seconds("soon") is None
    # Digits to str.isdigit() that float() cannot read: an endpoint's header is ignored, never an error.
    assert transport.retry_after_seconds("²") is None
    assert transport.retry_after_seconds("1²") is None
    assert transport.retry_after_seconds(None) is None


def test_the_answer_carries_retry_after(receiver: Receiver, allow_private: None) -> None:
    receiver.script(Reply(status=429, headers={"Retry-After": "42"}))
    result = post(receiver.url())
    assert (result.kind, result.status_code, result.retry_after) == (AttemptKind.HTTP_ERROR, 429, 42.0)
