"""System checks: a worker refuses to start with an analyzer it cannot use."""

from __future__ import annotations

import pytest
from django.test import override_settings

from video_jobs.apps import check_analyzer


def test_the_default_analyzer_passes_the_check() -> None:
    assert check_analyzer() == []


@pytest.mark.parametrize(
    ("path", "error_id"),
    [
        ("video_jobs.nowhere.analyze", "video_jobs.E003"),
        ("video_jobs.analysis.no_such_function", "video_jobs.E003"),
        ("video_jobs.analysis.MAX_RESULT_BYTES", "video_jobs.E004"),
    ],
)
def test_an_analyzer_that_cannot_be_imported_or_called_is_an_error(path: str, error_id: str) -> None:
    with override_settings(VIDEO_JOBS_ANALYZER=path):
        [error] = check_analyzer()
    assert error.id == error_id
    assert path in error.msg
