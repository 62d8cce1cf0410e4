"""The admin's job page shows the coach's picture of a done job: the shared partial with the result and a
presigned poster URL, the chart's scripts from static files, and the raw result JSON collapsed."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client

from video_jobs.models import VideoAnalysisJob

from ..support.jobs import make_job

pytestmark = pytest.mark.django_db

CHANGE = "/admin/video_jobs/videoanalysisjob/{}/change/"


def change_page(staff: Client, job: VideoAnalysisJob) -> str:
    response = staff.get(CHANGE.format(job.pk))
    assert response.status_code == 200
    return response.content.decode()


def test_a_done_jobs_page_draws_its_analysis_from_the_result(
    staff: Client, done_job: VideoAnalysisJob
) -> None:
    html = change_page(staff, done_job)

    embedded = re.search(
        r'<script id="admin-analysis-result" type="application/json">(.*?)</script>', html, re.S
    )
    assert embedded
    assert json.loads(embedded.group(1)) == done_job.result
    assert 'data-result="admin-analysis-result"' in html
    for script in ("vendor/cricksy-app.js", "app/common.js", "app/charts.js", "app/analysis.js"):
        assert f'src="/static/video_jobs/{script}"' in html
    assert 'href="/static/video_jobs/app/analysis.css"' in html


def test_the_poster_is_a_presigned_get_that_serves_the_stored_frame(
    staff: Client, done_job: VideoAnalysisJob, s3: Any
) -> None:
    html = change_page(staff, done_job)
    found = re.search(r'data-poster-url="([^"]+)"', html)
    assert found
    url = found.group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(url).query)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    poster = requests.get(url, timeout=30)
    assert poster.status_code == 200
    key = done_job.result["artifacts"]["poster.jpg"]["key"]
    assert poster.content == s3.get_object(Bucket=done_job.s3_bucket, Key=key)["Body"].read()


def test_the_raw_result_stays_on_the_page_collapsed(staff: Client, done_job: VideoAnalysisJob) -> None:
    html = change_page(staff, done_job)
    raw = re.search(
        r'<details class="cricksy-raw"><summary>Raw result \(JSON\)</summary><pre>(.*?)</pre>', html, re.S
    )
    assert raw
    assert "&quot;segments&quot;" in raw.group(1)


def test_a_job_without_a_motion_result_has_no_picture_but_its_raw_result(
    staff: Client, admin_user: Any
) -> None:
    job = make_job(admin_user, VideoAnalysisJob.Status.DONE, result={"frames": 1})
    html = change_page(staff, job)
    assert "data-analysis" not in html
    assert "Raw result (JSON)" in html


def test_the_job_list_does_not_load_the_chart_bundle(staff: Client) -> None:
    html = staff.get("/admin/video_jobs/videoanalysisjob/").content.decode()
    assert "cricksy-app.js" not in html
