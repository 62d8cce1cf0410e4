"""The analysis on the admin's job page: the same picture the coach sees (poster, motion chart, segments),
drawn by the coaches' template partial and script, with the raw result JSON kept below it, collapsed; the
pose's block is ``pose.py``'s."""

from __future__ import annotations

import json
import logging

from django.forms import Media
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from ..models import VideoAnalysisJob
from ..s3 import artifacts, presign, storage

logger = logging.getLogger(__name__)

# The bundle (Uppy and Chart.js; only Chart.js is used here), built by `make setup`, and the shared
# analysis script and styles, all from static files.
MEDIA = Media(
    css={"all": ["video_jobs/app/analysis.css", "video_jobs/admin/pose.css"]},
    js=[
        "video_jobs/vendor/cricksy-app.js",
        "video_jobs/app/common.js",
        "video_jobs/app/charts.js",
        "video_jobs/app/analysis.js",
    ],
)


def artifact_url(job: VideoAnalysisJob, name: str) -> str:
    """A short-lived presigned GET of one of the job's artifacts; empty when it has none by that name. Staff
    are not the job's owner, so the API's artifact route (owner-scoped) is not theirs to use."""
    artifact = artifacts.find(job, name)
    if artifact is None:
        return ""
    try:
        return presign.presign_download(
            bucket=job.s3_bucket, key=artifact.key, content_type=artifact.content_type
        )
    except storage.StorageError as exc:  # a configuration fault: the page still shows the rest
        logger.warning("job %s: no URL for %s: %s", job.pk, name, exc)
        return ""


def poster_url(job: VideoAnalysisJob) -> str:
    """The poster frame's presigned GET; empty when the job has none."""
    result = job.result if isinstance(job.result, dict) else {}
    poster = result.get("poster")
    name = poster.get("artifact") if isinstance(poster, dict) else None
    return artifact_url(job, name) if isinstance(name, str) else ""


def analysis_html(job: VideoAnalysisJob) -> SafeString | str:
    """The partial for a job whose result the default analyzer wrote (it has a motion timeline)."""
    result = job.result if isinstance(job.result, dict) else {}
    if not isinstance(result.get("motion"), dict):
        return "-"
    # The template escapes what it shows; json_script escapes the result for a <script> element.
    return mark_safe(
        render_to_string(
            "video_jobs/app/_analysis.html",
            {
                "analysis_id": "admin-analysis",
                "result": result,
                "result_script_id": "admin-analysis-result",
                "poster_url": poster_url(job),
            },
        )
    )


def raw_result_html(job: VideoAnalysisJob) -> SafeString | str:
    if job.result is None:
        return "-"
    return format_html(
        '<details class="cricksy-raw"><summary>Raw result (JSON)</summary><pre>{}</pre></details>',
        json.dumps(job.result, indent=2, sort_keys=True),
    )
