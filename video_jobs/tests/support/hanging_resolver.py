"""A system resolver that never answers: ``socket.getaddrinfo`` replaced by a call that blocks until the test
ends (or ``longest`` seconds, then fails as a resolver that gave up would), for the tests that prove every
webhook lookup is bounded."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


class HangingResolver:
    def __init__(self, longest: float) -> None:
        self.longest = longest
        self.released = threading.Event()
        self.asked: list[str] = []

    def __call__(self, host: Any, *args: Any, **kwargs: Any) -> Any:
        self.asked.append(str(host))
        self.released.wait(self.longest)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


@contextmanager
def hanging_resolver(monkeypatch: pytest.MonkeyPatch, *, longest: float = 30.0) -> Iterator[HangingResolver]:
    resolver = HangingResolver(longest)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    try:
        yield resolver
    finally:
        resolver.released.set()
        monkeypatch.undo()
