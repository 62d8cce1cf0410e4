"""A TCP server on 127.0.0.1 that accepts every connection, reads whatever comes and never answers: a
webhook endpoint that holds each sender for its whole timeout. It counts the connections open now, the
most open at once and the total, and lets a test wait on them."""

from __future__ import annotations

import socket
import threading
from typing import Any


class SilentServer:
    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._changed = threading.Condition()
        self._closed = False
        self.open = 0
        self.most_open = 0
        self.accepted = 0

    @property
    def port(self) -> int:
        return int(self._server.getsockname()[1])

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_until_open(self, count: int, *, timeout: float) -> bool:
        """Wait until ``count`` connections are open at once; False if they were not within ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: self.open >= count, timeout=timeout)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return  # closed
            with self._changed:
                self.open += 1
                self.accepted += 1
                self.most_open = max(self.most_open, self.open)
                self._changed.notify_all()
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()

    def _hold(self, connection: socket.socket) -> None:
        with connection:
            try:
                while connection.recv(65536):
                    pass  # never a byte back, until the sender gives up
            except OSError:
                pass
        with self._changed:
            self.open -= 1
            self._changed.notify_all()

    def __enter__(self) -> SilentServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.close()
