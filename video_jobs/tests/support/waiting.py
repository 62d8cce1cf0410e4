"""Waiting on an observable condition (a row, a log line, a process's state), never on a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

import pytest

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T | Literal[False] | None], *, timeout: float = 15.0, what: str = "the condition"
) -> T:
    """Poll an observable condition until it holds (returning its value) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
