"""Fixtures of the services tests."""

from __future__ import annotations

import pytest

from video_jobs.s3 import storage


@pytest.fixture
def heads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every HeadObject key, still calling the real S3."""
    seen: list[str] = []
    real = storage.head

    def recording(*, bucket: str, key: str) -> storage.ObjectInfo:
        seen.append(key)
        return real(bucket=bucket, key=key)

    monkeypatch.setattr(storage, "head", recording)
    return seen
