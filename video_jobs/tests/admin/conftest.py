"""Fixtures of the admin tests."""

from __future__ import annotations

import pytest

from video_jobs.s3 import storage


@pytest.fixture
def heads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Every HeadObject the code makes: (key, size it answered, or the exception it raised)."""
    calls: list[tuple[str, object]] = []
    real_head = storage.head

    def recording_head(*, bucket: str, key: str) -> storage.ObjectInfo:
        try:
            info = real_head(bucket=bucket, key=key)
        except storage.StorageError as exc:
            calls.append((key, exc))
            raise
        calls.append((key, info.size))
        return info

    monkeypatch.setattr(storage, "head", recording_head)
    return calls
