"""An HTTP proxy in front of moto's S3 server that injects the faults real S3 has: 5xx answers and bodies
cut short. The app reaches it like any S3 endpoint (AWS_S3_ENDPOINT_URL), so faults travel the real
botocore code path. It also counts what it forwarded (``requests``, ``part_puts``) and can stall uploads
(``stall_parts_after``), for the client's resume tests."""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Hop-by-hop headers are the proxy's own business, not forwarded.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


class FaultyS3Proxy:
    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.requests: list[tuple[str, str]] = []
        self._fail: dict[str, int] = {}  # method -> HTTP status to answer every such request with
        self._truncate: dict[str, int] = {}  # method -> how many responses to cut short
        self._truncate_only = ""  # ... of requests whose path contains this
        self._lock = threading.Lock()
        # Part numbers of the UploadPart requests that S3 answered 200, in order.
        self.part_puts: list[int] = []
        self._stall_after: int | None = None
        self._stalled = threading.Event()
        self._released = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FaultyS3Proxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @contextmanager
    def failing(self, method: str, status: int = 503) -> Iterator[None]:
        """Answer every ``method`` request with ``status`` (an S3 error document) inside the block."""
        with self._lock:
            self._fail[method] = status
        try:
            yield
        finally:
            with self._lock:
                self._fail.pop(method, None)

    def truncate_next(self, method: str = "GET", times: int = 1, *, path_contains: str = "") -> None:
        """Send the next ``times`` ``method`` responses (to paths containing ``path_contains``) with their
        full Content-Length but half the body."""
        with self._lock:
            self._truncate[method] = self._truncate.get(method, 0) + times
            self._truncate_only = path_contains

    def stall_parts_after(self, count: int) -> None:
        """Forward ``count`` part PUTs, then hold every further one until ``release_stalled``, which drops
        them unanswered and unforwarded (as a connection that died with its client)."""
        with self._lock:
            self._stall_after = count
            self._released.clear()

    def release_stalled(self) -> None:
        with self._lock:
            self._stall_after = None
        self._released.set()

    @property
    def stalled(self) -> bool:
        """Whether a part PUT is being held."""
        return self._stalled.is_set()

    def _hold(self, request: BaseHTTPRequestHandler) -> bool:
        """True when this part PUT is held and then dropped."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        if request.command != "PUT" or "partNumber" not in query:
            return False
        with self._lock:
            stalling = self._stall_after is not None and len(self.part_puts) >= self._stall_after
        if stalling:
            self._stalled.set()
            self._released.wait(timeout=60)
            request.close_connection = True
        return stalling

    def _count_part(self, request: BaseHTTPRequestHandler, status: int) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        if request.command == "PUT" and "partNumber" in query and status == 200:
            with self._lock:
                self.part_puts.append(int(query["partNumber"][0]))

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        if self._hold(request):
            return
        method = request.command
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        with self._lock:
            self.requests.append((method, request.path))
            status = self._fail.get(method)
            truncate = self._truncate.get(method, 0) > 0 and self._truncate_only in request.path
            if truncate:
                self._truncate[method] -= 1
        if status is not None:
            error = f"<Error><Code>ServiceUnavailable</Code><Message>injected {status}</Message></Error>"
            payload = error.encode()
            request.send_response(status)
            request.send_header("Content-Type", "application/xml")
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            if method != "HEAD":
                request.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(method, request.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            self._count_part(request, response.status)
            request.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP:
                    request.send_header(key, value)
            request.end_headers()
            if method != "HEAD":
                request.wfile.write(data[: len(data) // 2] if truncate else data)
        finally:
            upstream.close()
        if truncate:
            request.close_connection = True
