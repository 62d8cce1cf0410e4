"""A job of a real person through a real analysis child, under the default memory limit, with pose on: done,
its pose in the result, and pose.jpg and pose-track.json served through the artifacts endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from django.test import override_settings
from rest_framework.test import APIClient

from video_jobs.devtools.synthetic_video import astronaut, write_person_video

from ..support.worker_support import MakeWorker, QueueJob, fresh

pytestmark = pytest.mark.django_db


def test_a_job_of_a_person_is_done_with_its_pose_served_as_artifacts(
    make_worker: MakeWorker,
    queue_job: QueueJob,
    api: APIClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    video = write_person_video(tmp_path / "person.mp4", astronaut(), seconds=2, width=320, height=180, fps=25)
    job = queue_job(video.read_bytes())

    # The worker sends the analysis server its settings (the pose's rate among them) when it starts it.
    with override_settings(VIDEO_JOBS_POSE_FPS=10):
        make_worker(isolated=True).run_once()

    done = fresh(job)
    assert done.status == "done", done.error_detail
    pose = done.result["pose"]
    assert (pose["sampled_frames"], pose["picture"]["artifact"]) == (20, "pose.jpg")
    assert pose["person_frames"] >= 18
    body = api.get(f"/api/video-jobs/{job.pk}/").json()
    listed = {artifact["name"]: artifact["content_type"] for artifact in body["artifacts"]}
    assert listed["pose.jpg"] == "image/jpeg"
    assert listed["pose-track.json"] == "application/json"
    fetched = {}
    for name in ("pose.jpg", "pose-track.json"):
        response = api.get(f"/api/video-jobs/{job.pk}/artifacts/{name}")
        assert response.status_code == 302
        fetched[name] = requests.get(response["Location"], timeout=30)
        assert fetched[name].status_code == 200
    assert fetched["pose.jpg"].content[:2] == b"\xff\xd8"
    track = fetched["pose-track.json"].json()
    assert len(track["frames"]) == 20
    assert sum(frame["points"] is not None for frame in track["frames"]) == pose["person_frames"]
