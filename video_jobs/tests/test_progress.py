"""`make test`'s progress lines (support/progress.py): one every 5% of the tests, failures counted."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any, cast

import pytest

from .support.progress import Progress


def report(when: str, failed: bool = False) -> pytest.TestReport:
    return cast(pytest.TestReport, SimpleNamespace(when=when, failed=failed))


def test_a_line_every_five_percent_and_failures_counted() -> None:
    out = io.StringIO()
    progress = Progress("sqlite", out)
    progress.pytest_collection_finish(cast(Any, SimpleNamespace(items=[None] * 40)))
    for number in range(40):
        progress.pytest_runtest_logreport(report("setup"))
        progress.pytest_runtest_logreport(report("call", failed=number == 7))
        progress.pytest_runtest_logreport(report("teardown"))

    lines = [line.split("] ", 1)[1] for line in out.getvalue().splitlines()]

    assert lines[0] == "40 tests"
    assert lines[1] == "  5% (2/40)"
    assert lines[4] == " 20% (8/40, 1 failed)"
    assert lines[-1] == "100% (40/40, 1 failed)"
    assert len(lines) == 1 + 20
    assert all(line.startswith("[sqlite ") for line in out.getvalue().splitlines())
