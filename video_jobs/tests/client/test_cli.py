"""The command line as a newcomer meets it: installed as ``cricksy-upload`` and run from any folder, one
plain line for every refusal, files that are not videos refused before a byte is sent, the summary on
stdout, ``status`` without hashing again, ``--new`` after a failed job."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rich.progress import Progress

from video_jobs.client.probe import type_of
from video_jobs.client.upload import Bar
from video_jobs.models import VideoAnalysisJob
from video_jobs.s3.embedded import free_port

from ..support.jobs import VIDEO, make_job

Status = VideoAnalysisJob.Status
ANSI = re.compile(r"\x1b\[")


def client(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "video_jobs.client", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or settings.BASE_DIR,
        env={**os.environ, **env},
    )


@pytest.fixture
def token(user: Any) -> str:
    return str(Token.objects.create(user=user).key)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "net session.mp4"
    path.write_bytes(VIDEO)
    return path


def encoded(container: str, codec: str) -> bytes:
    """The first bytes of a real three-frame video in ``container``, as PyAV (FFmpeg) writes it."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=10)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), dtype=np.uint8), format="rgb24")
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    return buffer.getvalue()[:64]


@pytest.mark.parametrize(
    ("container", "codec", "content_type"),
    [
        ("mp4", "h264", "video/mp4"),
        ("mov", "h264", "video/quicktime"),
        ("matroska", "h264", "video/x-matroska"),
        ("webm", "vp8", "video/webm"),
        ("avi", "mpeg4", "video/x-msvideo"),
    ],
)
def test_a_video_is_known_by_its_first_bytes(container: str, codec: str, content_type: str) -> None:
    assert type_of(encoded(container, codec)) == content_type


def test_text_and_pictures_are_not_videos() -> None:
    assert type_of(b"team sheet: 11 players\n") is None
    assert type_of(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20) is None
    assert type_of(b"") is None


def test_a_file_that_is_not_a_video_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("bowl full, hit the top of off\n" * 100)
    nowhere = f"http://127.0.0.1:{free_port()}"  # any request at all would end in exit 3 (unreachable)

    finished = client("upload", str(notes), "--server", nowhere, "--token", "t", "--tries", "1")

    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines() == [
        f"{notes}: not a video this service accepts (MP4, MOV, WebM, Matroska or AVI)"
    ]


def test_an_empty_file_is_one_plain_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    finished = client("upload", str(empty), "--server", "http://127.0.0.1:1", "--token", "t")
    assert (finished.returncode, finished.stderr.strip()) == (2, f"{empty}: the file is empty")


def test_a_server_without_its_scheme_is_bad_usage_not_a_traceback(clip: Path) -> None:
    finished = client("upload", str(clip), "--server", "127.0.0.1:8000", "--token", "t")
    assert finished.returncode == 2
    assert finished.stderr.strip() == (
        "--server 127.0.0.1:8000: give the server's address with its scheme, e.g. http://127.0.0.1:8000"
    )


@pytest.mark.any_database
@pytest.mark.django_db(transaction=True)
def test_a_refusal_is_the_servers_words_on_one_line(live_server: Any, token: str, clip: Path) -> None:
    nobody = "00000000-0000-0000-0000-000000000000"
    finished = client("status", nobody, "--server", live_server.url, "--token", token)
    assert finished.returncode == 2
    [line] = finished.stderr.strip().splitlines()
    assert line.startswith("refused: GET ")
    assert line.endswith("(HTTP 404)")
    assert "{" not in line


@pytest.mark.any_database
@pytest.mark.django_db(transaction=True)
def test_status_follows_a_job_and_prints_its_summary_on_stdout(
    live_server: Any, token: str, user: Any
) -> None:
    result = {
        "video": {"duration_seconds": 12.04, "width": 1280, "height": 720, "fps": 30.0},
        "motion": {"segments": [{"start_seconds": 3.1, "end_seconds": 5.0, "peak": 9.0, "mean": 4.0}]},
    }
    job = make_job(user, Status.DONE, result=result)

    finished = client("status", str(job.pk), "--server", live_server.url, "--token", token, FORCE_COLOR="1")

    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[0] == f"job {job.pk}: done"
    assert "12.0 s, 1280x720, 30 fps" in finished.stdout
    assert not any(ANSI.search(line) for line in lines if "1280x720" in line)
    assert "1 segment(s): 0:03.1-0:05.0" in finished.stdout


@pytest.mark.any_database
@pytest.mark.django_db(transaction=True)
def test_a_rerun_after_a_failed_job_offers_new_and_new_uploads_again(
    live_server: Any, token: str, clip: Path
) -> None:
    common = ("--server", live_server.url, "--token", token, "--json")
    first = client("upload", str(clip), *common)
    assert first.returncode == 0, first.stderr
    failed = json.loads(first.stdout)["id"]
    VideoAnalysisJob.objects.filter(pk=failed).update(status=Status.FAILED, stage="failed")

    again = client("upload", str(clip), *common)
    anew = client("upload", str(clip), *common, "--new")

    assert again.returncode == 1
    assert "run again with --new to upload it as a new job" in again.stderr
    assert anew.returncode == 0, anew.stderr
    body = json.loads(anew.stdout)
    assert body["id"] != failed
    assert body["status"] == "queued"


@pytest.mark.any_database
@pytest.mark.django_db(transaction=True)
def test_the_installed_command_runs_from_any_folder(
    live_server: Any, token: str, clip: Path, tmp_path: Path
) -> None:
    """``pip install ./video_jobs/client`` (here into a folder of its own) gives ``cricksy-upload``, which
    runs outside the checkout, where ``video_jobs`` cannot be imported."""
    source = shutil.copytree(settings.BASE_DIR / "video_jobs" / "client", tmp_path / "source")
    target = tmp_path / "installed"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--target", str(target), str(source)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "CRICKSY_SERVER": live_server.url, "CRICKSY_TOKEN": token}

    finished = subprocess.run(
        [str(target / "bin" / "cricksy-upload"), "upload", str(clip), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=elsewhere,
        env=env,
    )

    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["status"] == "queued"
    assert not (elsewhere / "video_jobs").exists()


def test_the_package_pins_what_the_server_pins() -> None:
    """The client's own package asks for the same requests and rich as requirements.txt."""
    pinned = dict(
        line.split("==")
        for line in (settings.BASE_DIR / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    project = (settings.BASE_DIR / "video_jobs" / "client" / "pyproject.toml").read_text()
    declared = re.search(r"^dependencies = \[(.*)\]$", project, re.MULTILINE)
    assert declared is not None
    wanted = dict(item.strip(' "').split("==") for item in declared.group(1).split(","))
    assert wanted == {name: pinned[name] for name in wanted}


def test_on_resume_the_rate_counts_only_what_this_run_sends() -> None:
    """900 bytes were in S3 already; this run sends 50 a second: the rate is 50/s, not (900 + 100) / 2 s."""
    now = [0.0]
    progress = Progress(get_time=lambda: now[0], disable=True)
    bar = Bar(progress, 2000)
    bar.restart(900)
    for second in (1.0, 2.0):
        now[0] = second
        bar.advance(50)
    [task] = progress.tasks
    assert task.completed == 1000
    assert task.speed == pytest.approx(50)
