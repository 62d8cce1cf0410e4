"""The job bodies, built with fields made once per class (``JobSerializer.to_representation``), are what
DRF's own ``Serializer.to_representation`` builds with fresh fields for each instance: for every status,
for each body (a job, a list row, a job with its upload instructions, the instructions alone)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import F
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from video_jobs import services
from video_jobs.api.serializers import (
    OVERVIEW_PATHS,
    InitiatedJobSerializer,
    JobSerializer,
    JobSummarySerializer,
    UploadInstructionsSerializer,
)
from video_jobs.models import VideoAnalysisJob

from ..support.jobs import make_job

pytestmark = pytest.mark.django_db

Status = VideoAnalysisJob.Status
RESULT = {"video": {"duration_seconds": 4.5}, "motion": {"segment_count": 2}, "poster": {"artifact": "p.jpg"}}


def drf_body(serializer: serializers.Serializer[Any], instance: Any) -> Any:
    return serializers.Serializer.to_representation(serializer, instance)


@pytest.mark.parametrize("status", Status.values)
def test_each_body_is_what_drf_builds(user: Any, status: str) -> None:
    job = make_job(user, status)
    if status == Status.DONE:
        VideoAnalysisJob.objects.filter(pk=job.pk).update(result=RESULT)
    request = APIRequestFactory().get("/api/video-jobs/")
    context = {"request": request, "upload": services.upload_instructions(job)}
    job = VideoAnalysisJob.objects.get(pk=job.pk)
    listed = (
        VideoAnalysisJob.objects.annotate(**{name: F(path) for name, path in OVERVIEW_PATHS.items()})
        .defer("result")
        .get(pk=job.pk)
    )
    for serializer_class, instance in (
        (JobSerializer, job),
        (JobSummarySerializer, listed),
        (InitiatedJobSerializer, job),
    ):
        fast = serializer_class(instance, context=context).data
        assert fast == drf_body(serializer_class(instance, context=context), instance)
        assert list(fast) == list(serializer_class().fields)  # the same keys, in the same order


def test_a_list_of_bodies_is_built_per_instance(user: Any) -> None:
    jobs = [make_job(user, Status.FAILED), make_job(user, Status.AWAITING_UPLOAD)]
    bodies = JobSerializer(jobs, many=True).data
    assert [body["id"] for body in bodies] == [str(job.pk) for job in jobs]
    assert [body["error_code"] for body in bodies] == ["invalid_video", None]


@pytest.mark.parametrize("size", [1024, 200 * 1024 * 1024])
def test_upload_instructions_are_what_drf_builds(user: Any, size: int) -> None:
    job, _ = services.initiate_upload(
        owner=user, filename="a.mp4", content_type="video/mp4", size_bytes=size, sha256="ab" * 32
    )
    upload = services.upload_instructions(job)
    assert upload is not None
    fast = UploadInstructionsSerializer(upload).data
    assert fast == drf_body(UploadInstructionsSerializer(upload), upload)
    assert ("url" in fast) is (size == 1024)  # a multipart plan has no URL: the key is left out, as DRF does
