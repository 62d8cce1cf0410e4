"""A real webhook receiver on 127.0.0.1 for the tests: it verifies every request with the
``standardwebhooks`` package, as a client of ours would, and answers as the test scripts it to."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Reply:
    """How the receiver answers one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering (a slow endpoint).
    delay: float = 0.0
    # Answer only once the test sets this event (or the client goes away).
    hold: threading.Event | None = None


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    # For each secret the receiver knows, whether the signature verified with it.
    verified: dict[str, bool]
    status: int

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def signatures(self) -> list[str]:
        return self.headers["webhook-signature"].split(" ")


class Receiver:
    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.received: list[Received] = []
        # The webhook-id of every request as soon as it arrives, before it is answered.
        self.arrivals: list[str] = []
        self._replies: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, *replies: Reply, path: str = "/hooks") -> None:
        """Answer the next requests to ``path`` with ``replies``, in order; then 200."""
        with self._lock:
            self._replies.setdefault(path, []).extend(replies)

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            queue = self._replies.get(path)
            return queue.pop(0) if queue else Reply()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", "0")))
        headers = {key.lower(): value for key, value in request.headers.items()}
        with self._lock:
            self.arrivals.append(headers.get("webhook-id", ""))
        verified = {}
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified[secret] = True
            except WebhookVerificationError:
                verified[secret] = False
        reply = self._next_reply(request.path)
        if reply.hold is not None:
            reply.hold.wait(timeout=60)
        if reply.delay:
            threading.Event().wait(reply.delay)
        with self._lock:
            self.received.append(Received(request.path, headers, body, verified, reply.status))
        try:
            request.send_response(reply.status)
            for name, value in reply.headers.items():
                request.send_header(name, value)
            request.send_header("Content-Length", "0")
            request.end_headers()
        except OSError:
            pass  # the sender gave up waiting (a timeout test)

    def delivered(self) -> list[Received]:
        """Requests answered 2xx."""
        with self._lock:
            return [received for received in self.received if 200 <= received.status < 300]

    def all(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
