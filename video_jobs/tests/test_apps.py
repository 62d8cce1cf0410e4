"""System checks: a worker refuses to start with an analyzer it cannot use, or too little memory for pose."""

from __future__ import annotations

import pytest
from django.test import override_settings

from video_jobs.apps import check_analyzer, check_pose_memory


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


@pytest.mark.parametrize(
    ("pose_fps", "memory_mb", "analyzer", "refused"),
    [
        (10.0, 2048, "video_jobs.analysis.analyze_video", False),
        (10.0, 1023, "video_jobs.analysis.analyze_video", True),
        (0.0, 512, "video_jobs.analysis.analyze_video", False),
        (10.0, 512, "video_jobs.analysis.noop_analyzer", False),
    ],
)
def test_pose_needs_room_in_the_analysis_memory_limit(
    pose_fps: float, memory_mb: int, analyzer: str, refused: bool
) -> None:
    with override_settings(
        VIDEO_JOBS_POSE_FPS=pose_fps, VIDEO_JOBS_ANALYSIS_MEMORY_MB=memory_mb, VIDEO_JOBS_ANALYZER=analyzer
    ):
        errors = check_pose_memory()
    assert [error.id for error in errors] == (["video_jobs.E005"] if refused else [])
