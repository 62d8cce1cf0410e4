"""The admin's job page shows the pose: pose.jpg through a presigned GET, the counts, and each angle timeline
as an SVG chart drawn on the server, with a gap where the joint was not seen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client, override_settings

from video_jobs.admin.pose import HEIGHT, WIDTH, angle_chart
from video_jobs.devtools.synthetic_video import astronaut, write_person_video
from video_jobs.models import VideoAnalysisJob

from ..support.jobs import make_job
from ..support.worker_support import MakeWorker, QueueJob, fresh

pytestmark = pytest.mark.django_db

CHANGE = "/admin/video_jobs/videoanalysisjob/{}/change/"


def change_page(staff: Client, job: VideoAnalysisJob) -> str:
    response = staff.get(CHANGE.format(job.pk))
    assert response.status_code == 200
    return response.content.decode()


def pose_result(**pose: Any) -> dict[str, Any]:
    return {
        "video": {"duration_seconds": 4.0},
        "pose": {
            "model": "mediapipe-blazepose-full-0.10.21",
            "sample_fps": 10.0,
            "sampled_frames": 40,
            "person_frames": 30,
            "detected_fraction": 0.75,
            "track": "pose-track.json",
            "picture": None,
            "angles": {"left_elbow": [[0.0, 90], [1.0, 180], [2.0, None], [3.0, 0], [4.0, 45]]},
            **pose,
        },
    }


def test_a_real_pose_is_shown_with_its_picture_served_by_a_presigned_get(
    staff: Client, make_worker: MakeWorker, queue_job: QueueJob, tmp_path: Path, s3: Any
) -> None:
    video = write_person_video(tmp_path / "person.mp4", astronaut(), seconds=2, width=320, height=180, fps=25)
    job = queue_job(video.read_bytes())
    with override_settings(VIDEO_JOBS_POSE_FPS=5):
        make_worker().run_once()
    job = fresh(job)
    assert job.status == "done"

    html = change_page(staff, job)

    found = re.search(r'<img src="([^"]+)" alt="The player\'s skeleton', html)
    assert found
    picture = requests.get(found.group(1).replace("&amp;", "&"), timeout=30)
    assert picture.status_code == 200
    key = job.result["artifacts"]["pose.jpg"]["key"]
    assert picture.content == s3.get_object(Bucket=job.s3_bucket, Key=key)["Body"].read()
    for name in ("left_elbow", "right_elbow", "left_knee", "right_knee", "shoulder_tilt", "hip_tilt"):
        assert f'data-angle="{name}"' in html
    assert f"{job.result['pose']['person_frames']} frames (" in html
    assert 'href="/static/video_jobs/admin/pose.css"' in html


def test_each_run_of_seen_values_is_one_line_on_a_fixed_scale(staff: Client, admin_user: Any) -> None:
    job = make_job(admin_user, VideoAnalysisJob.Status.DONE, result=pose_result())

    html = change_page(staff, job)

    chart = html[html.index('data-angle="left_elbow"') :]
    lines = re.findall(r'<polyline points="([^"]+)"', chart)
    # 90 degrees at mid-height, 180 at the top, 0 at the bottom; x from 0 to the video's 4 seconds.
    assert lines == [
        f"0.0,{HEIGHT / 2:.1f} {WIDTH / 4:.1f},0.0",
        f"{WIDTH * 3 / 4:.1f},{HEIGHT:.1f} {WIDTH:.1f},67.5",
    ]
    assert "0° to 180°, seen in 80% of the points" in chart
    assert "30 frames (75%)" in html
    assert "Nobody was found" not in html


def test_a_video_with_nobody_says_so_and_shows_no_picture(staff: Client, admin_user: Any) -> None:
    result = pose_result(person_frames=0, detected_fraction=0.0, angles={"left_knee": [[0.0, None]]})
    job = make_job(admin_user, VideoAnalysisJob.Status.DONE, result=result)

    html = change_page(staff, job)

    assert "Nobody was found in the video." in html
    assert "data-pose-picture" not in html
    assert "seen in 0% of the points" in html


def test_a_job_without_a_pose_has_no_pose_block(staff: Client, admin_user: Any) -> None:
    job = make_job(admin_user, VideoAnalysisJob.Status.DONE, result={"video": {"duration_seconds": 1.0}})

    assert "data-pose" not in change_page(staff, job)


def test_whatever_the_result_holds_is_escaped_and_odd_points_are_skipped(
    staff: Client, admin_user: Any
) -> None:
    result = pose_result(
        model="<script>alert(1)</script>", angles={"<b>x</b>": [[0, 1], "junk", [1, "2"], [2]]}
    )
    job = make_job(admin_user, VideoAnalysisJob.Status.DONE, result=result)

    html = change_page(staff, job)

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_tilts_are_drawn_about_a_zero_line() -> None:
    chart = angle_chart("hip_tilt", [[0.0, -90], [2.0, 90]], duration=2.0)

    assert (chart.low, chart.high, chart.zero_y) == (-90.0, 90.0, HEIGHT / 2)
    assert chart.lines == [f"0.0,{HEIGHT:.1f} {WIDTH:.1f},0.0"]
