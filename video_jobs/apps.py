from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

DEFAULT_ANALYZER = "video_jobs.analysis.analyze_video"


class VideoJobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "video_jobs"
    verbose_name = "Video jobs"

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from . import services
        from .models import VideoAnalysisJob

        # A job's row never goes without its tombstone, whoever deletes it (its owner's deletion included).
        pre_delete.connect(
            services.on_job_deleted, sender=VideoAnalysisJob, dispatch_uid="video_job_tombstone"
        )


@checks.register(checks.Tags.compatibility)
def check_s3_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Catch a missing S3 setting at start-up rather than at the first upload."""
    errors: list[checks.CheckMessage] = []
    if not getattr(settings, "AWS_STORAGE_BUCKET_NAME", ""):
        errors.append(
            checks.Error(
                "AWS_STORAGE_BUCKET_NAME is empty.",
                id="video_jobs.E001",
                hint="Set the AWS_STORAGE_BUCKET_NAME environment variable.",
            )
        )
    if not settings.VIDEO_JOBS_ALLOWED_CONTENT_TYPES:
        errors.append(
            checks.Error(
                "VIDEO_JOBS_ALLOWED_CONTENT_TYPES is empty: no upload could be accepted.",
                id="video_jobs.E002",
            )
        )
    return errors


@checks.register(checks.Tags.compatibility)
def check_analyzer(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A worker with an analyzer that cannot be imported would fail every job: refuse to start instead."""
    path = settings.VIDEO_JOBS_ANALYZER
    try:
        analyzer = import_string(path)
    except ImportError as exc:
        return [
            checks.Error(
                f"VIDEO_JOBS_ANALYZER {path!r} cannot be imported: {exc}",
                id="video_jobs.E003",
                hint="Give the dotted path of a callable, e.g. video_jobs.analysis.analyze_video.",
            )
        ]
    if not callable(analyzer):
        return [checks.Error(f"VIDEO_JOBS_ANALYZER {path!r} is not callable.", id="video_jobs.E004")]
    return []


# The pose model's child needs about 850 MiB of address space at 4K (docs/analysis.md): below this limit
# every job of the default analyzer would crash.
POSE_MIN_MEMORY_MB = 1024


@checks.register(checks.Tags.compatibility)
def check_pose_memory(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Pose analysis on with an analysis memory limit it cannot fit in: refuse to start instead."""
    pose_on = settings.VIDEO_JOBS_POSE_FPS > 0 and settings.VIDEO_JOBS_ANALYZER == DEFAULT_ANALYZER
    if pose_on and settings.VIDEO_JOBS_ANALYSIS_MEMORY_MB < POSE_MIN_MEMORY_MB:
        return [
            checks.Error(
                f"VIDEO_JOBS_ANALYSIS_MEMORY_MB is {settings.VIDEO_JOBS_ANALYSIS_MEMORY_MB}: pose analysis "
                f"needs at least {POSE_MIN_MEMORY_MB}.",
                id="video_jobs.E005",
                hint="Raise VIDEO_JOBS_ANALYSIS_MEMORY_MB, or set VIDEO_JOBS_POSE_FPS=0 to turn pose off.",
            )
        ]
    return []
