"""The coaches' pages: the uploader with the list of one's jobs, and one job's page.

Each page hands its script a small JSON configuration (``json_script``): the URLs it calls and the limits the
server enforces, so that Uppy refuses a file the server would refuse before a byte is sent. The server
still checks everything itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from ..models import VideoAnalysisJob
from ..uppy.tokens import endpoint_path


def uploader_config(request: HttpRequest) -> dict[str, Any]:
    """What the uploader script needs: the Uppy endpoint (its path carries the user's capability token, bound
    to this session: see ``video_jobs.uppy.tokens``), the server's limits, and the API's URLs."""
    user: Any = request.user  # logged in (login_required)
    return {
        "companionEndpoint": endpoint_path(user, session_key=str(request.session.session_key)),
        # Above this many bytes a file goes up as an S3 multipart upload, as the API's own clients do.
        "multipartThreshold": settings.VIDEO_JOBS_MULTIPART_THRESHOLD,
        "maxFileSize": settings.VIDEO_JOBS_MAX_UPLOAD_BYTES,
        "allowedFileTypes": ["video/*", *settings.VIDEO_JOBS_ALLOWED_CONTENT_TYPES],
        "jobsUrl": reverse("video-job-list"),
        "appUrl": reverse("coach:home"),
    }


# ensure_csrf_cookie: the pages' own POSTs to the API (cancel) send the cookie's token as X-CSRFToken.
# never_cache (Cache-Control: no-store, ...): a page holds the session's Uppy token and the user's jobs,
# which no cache (nor the browser's back button after logout) may keep.
@never_cache
@login_required
@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "video_jobs/app/home.html",
        {"config": uploader_config(request), "api_docs_url": reverse("api-docs")},
    )


@never_cache
@login_required
@ensure_csrf_cookie
def job_page(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    # Another user's job is a 404, exactly like an unknown id, as in the API.
    job = get_object_or_404(VideoAnalysisJob.objects.owned_by(request.user), pk=job_id)
    config = {
        "jobUrl": reverse("video-job-detail", args=[job.pk]),
        "appUrl": reverse("coach:home"),
    }
    admin_url = (
        reverse("admin:video_jobs_videoanalysisjob_change", args=[job.pk]) if request.user.is_staff else ""
    )
    return render(
        request,
        "video_jobs/app/job.html",
        {"job": job, "config": config, "admin_url": admin_url, "api_docs_url": reverse("api-docs")},
    )
