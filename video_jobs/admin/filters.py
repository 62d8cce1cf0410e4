"""The admin's own list filters, built on the QuerySet predicates that job_stats and the worker share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ..models import VideoAnalysisJob, VideoAnalysisJobQuerySet

YES = "yes"


class _PredicateFilter(admin.SimpleListFilter):
    """A one-choice filter (``?<parameter_name>=yes``) that applies one QuerySet predicate."""

    # A read predicate of the queryset, called with its defaults.
    predicate: Callable[..., VideoAnalysisJobQuerySet]

    def choice(self) -> str:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(YES, self.choice())]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[VideoAnalysisJob]
    ) -> QuerySet[VideoAnalysisJob]:
        if self.value() == YES:
            return type(self).predicate(queryset)
        return queryset


class StuckUploadFilter(_PredicateFilter):
    """``awaiting_upload`` longer than VIDEO_JOBS_STUCK_UPLOAD_MINUTES: the re-verify action's work list."""

    title = "stuck uploads"
    parameter_name = "stuck_upload"
    predicate = VideoAnalysisJobQuerySet.stuck_uploads

    def choice(self) -> str:
        return f"Awaiting upload > {settings.VIDEO_JOBS_STUCK_UPLOAD_MINUTES} min"


class StaleProcessingFilter(_PredicateFilter):
    """``processing`` jobs whose worker lease expired: the requeue action's work list."""

    title = "stale processing"
    parameter_name = "stale_processing"
    predicate = VideoAnalysisJobQuerySet.lease_expired

    def choice(self) -> str:
        return "Lease expired"
