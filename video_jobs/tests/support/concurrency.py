"""Many callers at once, for the concurrency proofs against a real PostgreSQL server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def race(callers: int, call: Callable[[], T]) -> list[T]:
    """Run ``call`` in ``callers`` threads released together by a barrier; each thread has its own
    database connection, closed when it is done."""
    barrier = threading.Barrier(callers)

    def one() -> T:
        try:
            barrier.wait(timeout=30)
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=callers) as pool:
        futures = [pool.submit(one) for _ in range(callers)]
        return [future.result(timeout=60) for future in futures]
