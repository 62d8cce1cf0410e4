"""The job model's own guarantees, enforced by the database itself."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from video_jobs.models import PROCESSING_STAGES, Outcome, VideoAnalysisJob

from .support.jobs import make_job

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
Stage = VideoAnalysisJob.Stage


def _write(job: VideoAnalysisJob, **fields: Any) -> None:
    with transaction.atomic():
        VideoAnalysisJob.objects.filter(pk=job.pk).update(**fields)


@pytest.mark.parametrize("stage", PROCESSING_STAGES)
def test_a_processing_job_may_be_in_any_processing_stage(user: Any, stage: str) -> None:
    job = make_job(user, Status.PROCESSING)
    _write(job, stage=stage)
    job.refresh_from_db()
    assert job.stage == stage


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        (Status.PROCESSING, Stage.QUEUED),
        (Status.PROCESSING, Stage.DONE),
        (Status.QUEUED, Stage.DOWNLOADING),
        (Status.DONE, Stage.FAILED),
        (Status.AWAITING_UPLOAD, Stage.QUEUED),
        (Status.CANCELLED, Stage.ANALYZING),
    ],
)
def test_the_database_refuses_a_stage_that_disagrees_with_the_status(
    user: Any, status: str, stage: str
) -> None:
    job = make_job(user, Status.QUEUED)
    with pytest.raises(IntegrityError, match="video_job_status_stage_agree"):
        _write(job, status=status, stage=stage)


def test_outcome_values_are_the_verification_metric_labels() -> None:
    assert [outcome.value for outcome in Outcome] == [
        "queued",
        "missing",
        "size_mismatch",
        "too_large",
        "transient",
        "not_eligible",
        "incomplete",
    ]
