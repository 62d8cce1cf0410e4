"""Staff recovery actions for video jobs. Each one calls the same service as the API or the worker.

An action first answers with a confirmation page that lists the selected jobs it will touch and the ones it
will skip (and why); only the page's "Yes" (``post=yes``) runs it. Each job then gets its own message, at a
level that says how it went, and an admin log entry (who did what to which job). No action assigns a status:
the services' guarded UPDATEs decide, so a job that changed since the page was shown is reported, not forced.
A run stops at the first job for which S3 could not be reached: the jobs after it would only wait for the
same timeout, one after the other, inside the request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import DELETION, LogEntry
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from .. import services
from ..models import Outcome, VideoAnalysisJob
from ..services import Deletion, VerifyResult

Status = VideoAnalysisJob.Status

# Each verifying action costs one HeadObject per job, inside the request: keep a run short.
MAX_JOBS_PER_ACTION = 100


@dataclass(frozen=True)
class Report:
    """What an action did to one job: a messages level and the outcome. An action's run function returns
    None instead when the service found the job not eligible, and the runner reports the skip with the
    action's requirement."""

    level: int
    outcome: str
    storage_down: bool = False  # S3 could not be reached: the run stops here
    deleted: bool = False  # the job is gone: logged as a deletion


def describe_state(job: VideoAnalysisJob) -> str:
    state = f"{job.status} ({job.error_code})" if job.error_code else str(job.status)
    if job.source_deleted_at is not None:
        # Why re-verify and retry refuse a job that otherwise qualifies.
        state += f", its source video deleted on {job.source_deleted_at.date().isoformat()}"
    return state


def _s3_unreachable(job: VideoAnalysisJob, detail: str) -> Report:
    return Report(
        messages.ERROR,
        f"left {describe_state(job)}: S3 could not be reached, try again later ({detail})",
        storage_down=True,
    )


def _report_verification(result: VerifyResult) -> Report | None:
    job = result.job
    if result.outcome == Outcome.QUEUED:
        if result.changed:
            return Report(messages.SUCCESS, f"video found in S3 ({job.object_size} bytes): queued")
        return Report(
            messages.WARNING, f"video found in S3, but the job moved meanwhile: now {describe_state(job)}"
        )
    if result.outcome == Outcome.NOT_ELIGIBLE:
        return None
    if result.outcome == Outcome.TRANSIENT:
        return _s3_unreachable(job, result.detail)
    reason = {
        Outcome.MISSING: "video not in S3",
        Outcome.SIZE_MISMATCH: "video in S3 has the wrong size",
        Outcome.TOO_LARGE: "video in S3 is too large",
        Outcome.INCOMPLETE: "multipart upload not whole in S3",
    }[result.outcome]
    return Report(messages.WARNING, f"left {describe_state(job)}: {reason} ({result.detail})")


def _reverify(job: VideoAnalysisJob) -> Report | None:
    return _report_verification(services.reverify_upload(job=job))


def _retry(job: VideoAnalysisJob) -> Report | None:
    return _report_verification(services.retry_failed_job(job=job))


def _requeue_stale(job: VideoAnalysisJob) -> Report | None:
    if not services.requeue_stale_job(job=job):
        return None
    if job.status == Status.QUEUED:
        return Report(
            messages.SUCCESS,
            f"requeued after {job.attempts} of {job.max_attempts} attempts; "
            f"claimable from {job.run_after.isoformat(timespec='seconds')}",
        )
    return Report(messages.WARNING, f"failed as {job.error_code}: its lease expired on its last attempt")


def _cancel(job: VideoAnalysisJob) -> Report | None:
    return Report(messages.SUCCESS, "cancelled") if services.cancel_job(job=job) else None


def _delete(job: VideoAnalysisJob) -> Report | None:
    outcome = services.delete_job(job=job)
    if outcome == Deletion.DELETED:
        return Report(messages.SUCCESS, "deleted with its video and artifacts", deleted=True)
    if outcome == Deletion.PROCESSING:
        return Report(messages.WARNING, "not deleted: a worker is processing it")
    return _s3_unreachable(job, "its objects could not be deleted")


@dataclass(frozen=True)
class JobAction:
    name: str
    label: str
    # Shown on the confirmation page: what the action does and when it refuses.
    explanation: str
    # Why a job the preview leaves out is not eligible.
    requirement: str
    # The rows the action may touch, for the preview; the service re-checks in its UPDATE.
    eligible: Callable[[QuerySet[VideoAnalysisJob]], QuerySet[VideoAnalysisJob]]
    run: Callable[[VideoAnalysisJob], Report | None]

    def skip_reason(self, job: VideoAnalysisJob) -> str:
        return f"it is {describe_state(job)}; {self.requirement}"


def _filtered(condition: Q) -> Callable[[QuerySet[VideoAnalysisJob]], QuerySet[VideoAnalysisJob]]:
    return lambda queryset: queryset.filter(condition)


ACTIONS = [
    JobAction(
        name="reverify_upload_and_queue",
        label="Re-verify upload and queue",
        explanation=(
            "Asks S3 for each job's video (HeadObject). Present with the declared size: the job is queued. "
            "Missing or of another size: the job is left as it is (the client may still be uploading). "
            "S3 unreachable: the job is left as it is. A job is never queued without S3 confirming its video."
        ),
        requirement=(
            "only awaiting_upload jobs and failed jobs with an upload error, whose source video is kept, "
            "can be re-verified"
        ),
        eligible=_filtered(services.REVERIFIABLE),
        run=_reverify,
    ),
    JobAction(
        name="retry_failed_jobs",
        label="Retry failed jobs",
        explanation=(
            "For jobs that failed while processing: asks S3 for the video first, then queues the job "
            "with its attempts reset. A job whose video is gone, or that S3 cannot confirm, is left failed."
        ),
        requirement=(
            "only jobs that failed while processing, whose source video is kept, can be retried "
            "(upload errors: re-verify)"
        ),
        eligible=_filtered(services.RETRYABLE),
        run=_retry,
    ),
    JobAction(
        name="requeue_stale_processing",
        label="Requeue stale processing jobs",
        explanation=(
            "Takes back processing jobs whose worker lease expired: queued again after a backoff, or "
            "failed as lost when they have used all their attempts. A job whose worker renewed its lease "
            "meanwhile is left with its worker."
        ),
        requirement="only processing jobs whose lease expired can be requeued",
        eligible=lambda queryset: queryset.lease_expired(),  # type: ignore[attr-defined]
        run=_requeue_stale,
    ),
    JobAction(
        name="cancel_jobs",
        label="Cancel jobs",
        explanation="Cancels jobs that no worker has started (awaiting upload or queued).",
        requirement="only awaiting_upload and queued jobs can be cancelled",
        eligible=_filtered(services.CANCELLABLE),
        run=_cancel,
    ),
]

# Not in ACTIONS: it needs the delete permission, and the job admin's delete_model and delete_queryset use it.
DELETE_JOBS = JobAction(
    name="delete_jobs",
    label="Delete jobs and their videos",
    explanation=(
        "Deletes each job's objects in S3 (the video and the artifacts), then the job. A job awaiting its "
        "upload or queued is cancelled first. A job being processed is left alone. When S3 cannot delete the "
        "objects, the job stays (cancelled if it had not started) and can be deleted again later."
    ),
    requirement="a job being processed cannot be deleted",
    eligible=_filtered(~Q(status=Status.PROCESSING)),
    run=_delete,
)


def run_job_action(
    modeladmin: admin.ModelAdmin[VideoAnalysisJob],
    request: HttpRequest,
    queryset: QuerySet[VideoAnalysisJob],
    action: JobAction,
) -> TemplateResponse | None:
    queryset = queryset.select_related("owner").order_by("created_at")
    selected = queryset.count()
    if selected > MAX_JOBS_PER_ACTION:
        modeladmin.message_user(
            request,
            f"{selected} jobs selected: select at most {MAX_JOBS_PER_ACTION} at a time "
            "(each one may cost an S3 request).",
            messages.ERROR,
        )
        return None
    if request.POST.get("post") != "yes":
        return _confirmation_page(modeladmin, request, queryset, action)
    run_on_jobs(modeladmin, request, queryset, action)
    return None


def run_on_jobs(
    modeladmin: admin.ModelAdmin[VideoAnalysisJob],
    request: HttpRequest,
    jobs: Iterable[VideoAnalysisJob],
    action: JobAction,
) -> None:
    """Run ``action`` on each job in turn, with a message and a log entry for each; stop at the first job
    for which S3 could not be reached."""
    untried: list[VideoAnalysisJob] = []
    for job in jobs:
        if untried:
            untried.append(job)
            continue
        try:
            report = action.run(job) or Report(messages.WARNING, f"skipped: {action.skip_reason(job)}")
        except services.JobGone:
            # Deleted meanwhile (by its owner or another member of staff): nothing left to act on or log.
            modeladmin.message_user(
                request, f"Job {job.pk} ({job.filename}): deleted meanwhile", messages.WARNING
            )
            continue
        # The job id first: the admin capitalises a message's first letter, which would alter a filename.
        modeladmin.message_user(request, f"Job {job.pk} ({job.filename}): {report.outcome}", report.level)
        if report.deleted:
            # Directly: the job admin's log_deletions is silenced, since Django calls it before deleting.
            assert request.user.pk is not None  # the admin serves signed-in staff only
            LogEntry.objects.log_actions(
                user_id=request.user.pk,
                queryset=[job],
                action_flag=DELETION,
                change_message=f"{action.label}: {report.outcome}",
            )
        else:
            modeladmin.log_change(request, job, f"{action.label}: {report.outcome}")
        if report.storage_down:
            untried.append(job)
    if len(untried) > 1:
        ids = ", ".join(str(job.pk) for job in untried[1:])
        modeladmin.message_user(
            request,
            f"Stopped at the first job S3 could not be reached for; not tried, try again later: {ids}",
            messages.ERROR,
        )


def _confirmation_page(
    modeladmin: admin.ModelAdmin[VideoAnalysisJob],
    request: HttpRequest,
    queryset: QuerySet[VideoAnalysisJob],
    action: JobAction,
) -> TemplateResponse:
    eligible_ids = set(action.eligible(queryset).values_list("pk", flat=True))
    jobs = list(queryset)
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"{action.label}: are you sure?",
        "subtitle": None,
        "opts": opts,
        "action": action,
        "eligible": [job for job in jobs if job.pk in eligible_ids],
        "skipped": [(job, action.skip_reason(job)) for job in jobs if job.pk not in eligible_ids],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(
        request,
        f"admin/{opts.app_label}/{opts.model_name}/action_confirmation.html",
        context,
    )


def admin_actions() -> list[Callable[..., TemplateResponse | None]]:
    """The actions as Django admin action functions: the recovery actions for staff with the change
    permission, the deletion for those with the delete permission."""

    def as_admin_action(action: JobAction, permission: str) -> Callable[..., TemplateResponse | None]:
        def run(
            modeladmin: admin.ModelAdmin[VideoAnalysisJob],
            request: HttpRequest,
            queryset: QuerySet[VideoAnalysisJob],
        ) -> TemplateResponse | None:
            return run_job_action(modeladmin, request, queryset, action)

        run.__name__ = action.name
        return admin.action(description=action.label, permissions=[permission])(run)

    return [as_admin_action(action, "change") for action in ACTIONS] + [
        as_admin_action(DELETE_JOBS, "delete")
    ]
