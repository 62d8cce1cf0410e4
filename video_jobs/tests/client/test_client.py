"""The command-line client, end to end: a real process (``python -m video_jobs.client``) against the live
API (pytest-django's live server), its parts over real HTTP to moto's S3 through a counting proxy, and a
real worker analysing the video to ``done``."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rich.console import Console

from video_jobs.client import upload as client_upload
from video_jobs.client.http import Api
from video_jobs.client.upload import Uploader
from video_jobs.devtools.synthetic_video import pad_video, write_test_video
from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import storage
from video_jobs.s3.embedded import free_port
from video_jobs.s3.seaweedfs import SeaweedFS

from ..support.jobs import VIDEO
from ..support.s3_config import store_env
from ..support.s3_proxy import FaultyS3Proxy
from ..support.waiting import wait_for
from ..support.worker_processes import Workers

MIB = 1024**2
PART = 5 * MIB
Status = VideoAnalysisJob.Status
ANALYZER = "video_jobs.analysis.analyze_video"


def client_command(path: Path, server: str, token: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "video_jobs.client",
        "upload",
        str(path),
        "--server",
        server,
        "--token",
        token,
        *args,
    ]


def run_client(*command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=settings.BASE_DIR)


@pytest.fixture
def token(user: Any) -> str:
    return str(Token.objects.create(user=user).key)


@pytest.fixture
def match_video(tmp_path: Path) -> Path:
    """A real clip padded to six parts and a bit (over the test threshold of 1 MiB)."""
    path = tmp_path / "match.mp4"
    write_test_video(path, seconds=4, width=160, height=90, fps=10)
    pad_video(path, 6 * PART + 12345)
    return path


@pytest.fixture
def multipart_s3(s3_proxy: FaultyS3Proxy) -> Iterator[FaultyS3Proxy]:
    """Small parts, and part URLs that point at the counting proxy (the API signs for its endpoint)."""
    with override_settings(VIDEO_JOBS_MULTIPART_THRESHOLD=MIB, VIDEO_JOBS_PART_SIZE=PART):
        yield s3_proxy


def test_the_client_imports_nothing_of_django() -> None:
    code = "import sys, video_jobs.client.cli; sys.exit(any(m.startswith('django') for m in sys.modules))"
    environment = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    assert (
        subprocess.run([sys.executable, "-c", code], env=environment, cwd=settings.BASE_DIR).returncode == 0
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_multipart_upload_by_the_client_ends_done_through_a_real_worker(
    live_server: Any, token: str, match_video: Path, multipart_s3: FaultyS3Proxy, workers: Workers
) -> None:
    workers.start(analyzer=ANALYZER)

    finished = run_client(*client_command(match_video, live_server.url, token, "--wait", "--json"))

    assert finished.returncode == 0, finished.stderr
    job = json.loads(finished.stdout)
    assert job["status"] == "done"
    assert job["result"]["source"]["sha256"] == hashlib.sha256(match_video.read_bytes()).hexdigest()
    assert sorted(multipart_s3.part_puts) == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.any_database
@pytest.mark.django_db(transaction=True)
def test_parts_beyond_one_batch_of_urls_are_each_sent_once(
    live_server: Any,
    token: str,
    match_video: Path,
    multipart_s3: FaultyS3Proxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The next batch of part URLs is asked for while the last one's parts are still in flight."""
    monkeypatch.setattr(client_upload, "URLS_A_CALL", 2)
    uploader = Uploader(Api(live_server.url, token), Console(quiet=True), parallel=3)

    job = uploader.upload(match_video, "video/mp4")

    assert job["status"] == "queued"
    assert sorted(multipart_s3.part_puts) == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_killed_client_resumes_and_sends_only_the_missing_parts(
    live_server: Any, token: str, match_video: Path, multipart_s3: FaultyS3Proxy, workers: Workers
) -> None:
    command = client_command(match_video, live_server.url, token, "--parallel", "2")
    multipart_s3.stall_parts_after(3)
    first = subprocess.Popen(
        command, cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: multipart_s3.stalled, timeout=60, what="the client to be halfway")
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        multipart_s3.release_stalled()
    sent_before = list(multipart_s3.part_puts)
    assert 3 <= len(sent_before) < 7
    job = VideoAnalysisJob.objects.get()
    assert job.status == Status.AWAITING_UPLOAD
    workers.start(analyzer=ANALYZER)

    again = run_client(*command, "--wait", "--json")

    assert again.returncode == 0, again.stderr
    sent_after = multipart_s3.part_puts[len(sent_before) :]
    assert sorted(sent_before + sent_after) == [1, 2, 3, 4, 5, 6, 7]  # each part sent once
    body = json.loads(again.stdout)
    assert (body["id"], body["status"]) == (str(job.pk), "done")
    assert body["result"]["source"]["sha256"] == hashlib.sha256(match_video.read_bytes()).hexdigest()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_job_that_fails_exits_1(live_server: Any, token: str, tmp_path: Path, workers: Workers) -> None:
    # It starts as an MP4 does (so the client sends it), but nothing after its first box is a video.
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_bytes(VIDEO[:16] + b"not a video at all" * 100)
    workers.start(analyzer=ANALYZER)

    finished = run_client(*client_command(not_a_video, live_server.url, token, "--wait"))

    assert finished.returncode == 1, finished.stderr
    assert "failed (invalid_video)" in finished.stdout


@pytest.mark.any_database
@pytest.mark.django_db(transaction=True)
def test_without_wait_an_upload_exits_0_once_the_job_is_queued(
    live_server: Any, token: str, tmp_path: Path
) -> None:
    small = tmp_path / "short.mp4"
    small.write_bytes(VIDEO)

    finished = run_client(*client_command(small, live_server.url, token, "--json"))

    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["status"] == "queued"


@pytest.mark.any_database
@pytest.mark.django_db(transaction=True)
def test_a_refused_request_exits_2(live_server: Any, tmp_path: Path) -> None:
    small = tmp_path / "short.mp4"
    small.write_bytes(VIDEO)
    finished = run_client(*client_command(small, live_server.url, "not-a-token"))
    assert finished.returncode == 2
    assert "401" in finished.stderr


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    assert run_client(sys.executable, "-m", "video_jobs.client", "upload").returncode == 2
    missing = run_client(*client_command(tmp_path / "none.mp4", "http://127.0.0.1:1", "t"))
    assert missing.returncode == 2


def test_a_server_that_cannot_be_reached_exits_3(tmp_path: Path) -> None:
    small = tmp_path / "short.mp4"
    small.write_bytes(VIDEO)
    nowhere = f"http://127.0.0.1:{free_port()}"
    finished = run_client(*client_command(small, nowhere, "t", "--tries", "2"))
    assert finished.returncode == 3
    assert "unreachable" in finished.stderr


@pytest.mark.any_database
@pytest.mark.django_db(transaction=True)
def test_manage_py_upload_video_is_the_same_client(live_server: Any, token: str, tmp_path: Path) -> None:
    small = tmp_path / "short.mp4"
    small.write_bytes(VIDEO)
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py"), "upload_video"]
    finished = run_client(*manage, str(small), "--server", live_server.url, "--token", token, "--json")
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["status"] == "queued"
    assert run_client(*manage, str(tmp_path / "none.mp4"), "--server", "x", "--token", "t").returncode == 2


@pytest.mark.any_database
@pytest.mark.django_db(transaction=True)
def test_an_upload_resumes_against_a_real_store(
    live_server: Any, token: str, match_video: Path, strict_s3: SeaweedFS
) -> None:
    """Every S3 call of a multipart upload as real S3 checks it (signed part URLs, the parts listed, the
    completion), on SeaweedFS: two parts sent before the client runs, which sends only the other five."""
    data = match_video.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    api = f"{live_server.url}/api/video-jobs/"
    auth = {"Authorization": f"Token {token}"}
    declared = {"filename": match_video.name, "content_type": "video/mp4", "size_bytes": len(data)}
    with override_settings(VIDEO_JOBS_MULTIPART_THRESHOLD=MIB, VIDEO_JOBS_PART_SIZE=PART):
        # What an earlier run of the client would have done before it died: the same Idempotency-Key.
        job = requests.post(
            f"{api}initiate/",
            json={**declared, "sha256": digest},
            headers={**auth, "Idempotency-Key": f"upload-{digest}-{len(data)}"},
        ).json()
        parts = requests.post(f"{api}{job['id']}/parts/", json={"part_numbers": [1, 2]}, headers=auth)
        for part in parts.json()["parts"]:
            offset = (part["part_number"] - 1) * PART
            body = data[offset : offset + PART]
            requests.put(part["url"], data=body, headers=part["headers"]).raise_for_status()

        finished = run_client(*client_command(match_video, live_server.url, token, "--json"))

    assert finished.returncode == 0, finished.stderr
    assert "2 of 7 parts already in S3" in " ".join(finished.stderr.split())
    body = json.loads(finished.stdout)
    assert (body["id"], body["status"]) == (job["id"], "queued")
    stored = storage.client().get_object(
        Bucket=settings.AWS_STORAGE_BUCKET_NAME, Key=storage.video_key(job["id"])
    )
    assert hashlib.sha256(stored["Body"].read()).hexdigest() == digest


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_6_gb_video_uploads_and_is_analysed(
    live_server: Any, token: str, tmp_path: Path, strict_s3: SeaweedFS, workers: Workers
) -> None:
    """Past the single PUT's 5 GB: the default threshold and part size (16 MiB, 358 parts), on SeaweedFS,
    which keeps the parts on disk and makes the object of them without copying (moto's server assembles it
    in memory, several copies: the kernel's OOM killer ended it on this 23 GB machine after the client had
    sent all 6 GB). Needs about 20 GB of disk: the file, the parts (the object) and the worker's download."""
    video = tmp_path / "whole match.mp4"
    write_test_video(video, seconds=20, width=320, height=180, fps=25)
    pad_video(video, 6 * 1000**3)
    digest = hashlib.sha256()
    with video.open("rb") as source:
        while chunk := source.read(8 * MIB):
            digest.update(chunk)
    workers.start(analyzer=ANALYZER, VIDEO_JOBS_LEASE_SECONDS="120", **store_env(strict_s3))

    started = time.perf_counter()
    finished = run_client(*client_command(video, live_server.url, token, "--wait", "--json"), timeout=3600)
    took = time.perf_counter() - started

    assert finished.returncode == 0, finished.stderr
    job = json.loads(finished.stdout)
    assert (job["status"], job["size_bytes"]) == ("done", 6 * 1000**3)
    # The figures bench/README.md quotes (shown with `pytest -s`): initiate to queued is the upload, the
    # assembly and the HeadObject; the hashing before it is the rest of the client's time up to queued.
    row = VideoAnalysisJob.objects.get()
    assert row.queued_at
    assert row.started_at
    assert row.finished_at
    upload = (row.queued_at - row.created_at).total_seconds()
    print(
        f"\n6 GB: client {took:.0f} s in all; initiate to queued {upload:.0f} s "
        f"({6 * 1000**3 / MIB / upload:.0f} MiB/s); queued to started "
        f"{(row.started_at - row.queued_at).total_seconds():.1f} s; analysis (download, hash, decode) "
        f"{(row.finished_at - row.started_at).total_seconds():.0f} s"
    )
    assert job["result"]["source"]["sha256"] == digest.hexdigest()
    assert job["result"]["video"]["duration_seconds"] == pytest.approx(20, abs=0.2)
