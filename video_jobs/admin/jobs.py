"""Staff view of video jobs: find stuck ones with the filters, recover them with the actions.

The job page is read-only as a whole. A form save writes every column of the row back, so even with
``status`` shown read-only it would put back whatever status it had read, racing the worker's and the
API's guarded UPDATEs. The only way to change a job from the admin is an action, which calls a service.
Deleting goes through the API's service too (its S3 objects first, then the row), from the job page and as
an action; Django's own bulk delete, which would leave the videos in S3, is not offered.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from ..models import VideoAnalysisJob
from ..ops.stats import job_stats
from .actions import DELETE_JOBS, admin_actions, run_on_jobs
from .analysis import MEDIA as ANALYSIS_MEDIA
from .analysis import analysis_html, raw_result_html
from .filters import StaleProcessingFilter, StuckUploadFilter
from .pose import pose_html

admin.site.site_header = "Cricksy video jobs"
admin.site.site_title = "Cricksy admin"
# The job list is wide (ids, nine columns, two filter panels); the app sidebar only repeats the home page.
admin.site.enable_nav_sidebar = False


@admin.register(VideoAnalysisJob)
class VideoAnalysisJobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id",
        "owner",
        "filename",
        "status",
        "stage",
        "progress",
        "attempts",
        "error_code",
        "age",
    )
    list_filter = ("status", "stage", "error_code", StuckUploadFilter, StaleProcessingFilter)
    list_select_related = ("owner",)
    # The id is matched exactly (see get_search_results); the S3 key holds it too, so a part of it works.
    search_fields = ("s3_key", "filename", "owner__username", "owner__email")
    search_help_text = "Job id, S3 key, filename, or the owner's username or email."
    date_hierarchy = "created_at"
    actions = admin_actions()
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "owner",
                    "status",
                    "stage",
                    "progress",
                    "error_code",
                    "error_message",
                    "error_detail",
                )
            },
        ),
        (
            "Upload",
            {
                "fields": (
                    "filename",
                    "content_type",
                    "size_bytes",
                    "sha256",
                    "s3_bucket",
                    "s3_key",
                    "upload_id",
                    "part_size",
                    "part_count",
                    "verified_at",
                    "object_size",
                    "object_etag",
                    "source_deleted_at",
                )
            },
        ),
        ("Queue", {"fields": ("attempts", "max_attempts", "run_after", "worker_id", "lease_expires_at")}),
        (
            "Times",
            {
                "fields": (
                    "created_at",
                    "updated_at",
                    "upload_deadline",
                    "queued_at",
                    "started_at",
                    "finished_at",
                )
            },
        ),
        ("Result", {"fields": ("analysis", "pose", "raw_result")}),
    )
    readonly_fields = tuple(str(field) for _, options in fieldsets for field in options["fields"])

    @admin.display(description="age", ordering="created_at")
    def age(self, job: VideoAnalysisJob) -> str:
        return timesince(job.created_at, timezone.now())

    @admin.display(description="analysis")
    def analysis(self, job: VideoAnalysisJob) -> str:
        return analysis_html(job)

    @admin.display(description="pose")
    def pose(self, job: VideoAnalysisJob) -> str:
        return pose_html(job)

    @admin.display(description="result")
    def raw_result(self, job: VideoAnalysisJob) -> str:
        return raw_result_html(job)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: VideoAnalysisJob | None = None,
    ) -> HttpResponse:
        # The chart's scripts on the job's page only, not on the list.
        context["media"] = context["media"] + ANALYSIS_MEDIA
        return super().render_change_form(request, context, add, change, form_url, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Jobs are created by initiate, which generates their S3 key: never by hand.
        return False

    def has_change_permission(self, request: HttpRequest, obj: VideoAnalysisJob | None = None) -> bool:
        # The change permission still enables the actions on the list (obj is None there); one job's page
        # is view-only, see the module docstring.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Django's bulk delete would delete rows and leave their objects in S3: DELETE_JOBS replaces it.
        actions.pop("delete_selected", None)
        return actions

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        # Django logs a deletion before it happens; run_on_jobs logs the ones the service carried out.
        return []

    def delete_model(self, request: HttpRequest, obj: VideoAnalysisJob) -> None:
        run_on_jobs(self, request, [obj], DELETE_JOBS)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[VideoAnalysisJob]) -> None:
        run_on_jobs(self, request, queryset, DELETE_JOBS)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        # delete_model's message says how it went; a job the service did not delete is shown again.
        opts = self.opts
        if VideoAnalysisJob.objects.filter(pk=obj_id).exists():
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj_id])
            )
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[VideoAnalysisJob], search_term: str
    ) -> tuple[QuerySet[VideoAnalysisJob], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            job_id = uuid.UUID(search_term.strip())
        except ValueError:
            return results, may_have_duplicates
        return results | queryset.filter(pk=job_id), may_have_duplicates

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The queue at a glance above the list: the numbers of job_stats and /metrics.
        extra_context = {**(extra_context or {}), "job_stats": job_stats()}
        return super().changelist_view(request, extra_context)
