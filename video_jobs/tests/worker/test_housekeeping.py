"""Process housekeeping: temporary downloads and those killed workers left, and log lines stamped with the
worker and the job they are about."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from video_jobs.analysis import JobInfo, ProgressCallback
from video_jobs.worker.housekeeping import JobContextFilter, remove_orphaned_downloads, temporary_download

from ..support.worker_support import MakeWorker, QueueJob, Recorder

pytestmark = pytest.mark.django_db


# --- orphaned downloads -----------------------------------------------------------------------------------


def test_downloads_left_by_dead_workers_are_removed_and_no_others(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid now names no process
    orphan = tmp_path / f"cricksy-{dead.pid}-job-abc.video"
    orphan.write_bytes(b"x" * 1234)
    kept = [
        tmp_path / f"cricksy-{os.getpid()}-job-abc.video",  # a live worker's download
        tmp_path / f"cricksy-{dead.pid}-job-abc.part",  # not a download
        tmp_path / "cricksy-notapid-job.video",
        # Planted names a worker must step over at start: not a pid int() reads, or one os.kill refuses.
        tmp_path / "cricksy-²-job.video",
        tmp_path / f"cricksy-{'9' * 30}-job.video",
        tmp_path / f"cricksy-{'9' * 240}.video",  # as long as a file name may be
        tmp_path / f"other-{dead.pid}-job.video",
    ]
    for path in kept:
        path.write_bytes(b"y")

    assert remove_orphaned_downloads(str(tmp_path)) == 1234
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_a_download_in_progress_is_named_for_its_process_and_kept_by_the_cleanup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    with temporary_download("job-1") as handle:
        path = Path(handle.name)
        assert path.parent == tmp_path
        assert path.name.startswith(f"cricksy-{os.getpid()}-job-1-")
        assert path.name.endswith(".video")
        assert remove_orphaned_downloads(str(tmp_path)) == 0
        assert path.exists()

    assert list(tmp_path.iterdir()) == []


# --- log context ------------------------------------------------------------------------------------------


def test_log_records_carry_the_worker_and_the_job_they_are_about(
    make_worker: MakeWorker, queue_job: QueueJob, caplog: pytest.LogCaptureFixture
) -> None:
    job = queue_job(b"x" * 1000)
    caplog.handler.addFilter(JobContextFilter("w-logs"))
    caplog.clear()
    third_party = logging.getLogger("some.library")

    def chat(path: Path, job: JobInfo, progress: ProgressCallback) -> None:
        third_party.warning("decoder says hello")

    with caplog.at_level(logging.INFO):
        make_worker(analyzer=Recorder(then=chat)).run_once()
        logging.getLogger("video_jobs").info("between jobs")

    stamped = {
        record.getMessage(): (vars(record)["worker_id"], vars(record)["job_id"]) for record in caplog.records
    }
    assert stamped["decoder says hello"] == ("w-logs", str(job.pk))
    assert stamped["between jobs"] == ("w-logs", "-")
    # The sweep's summary is about no job (here it may sweep what earlier tests left in the shared bucket).
    worker_lines = [
        record
        for record in caplog.records
        if record.name == "video_jobs.worker" and not record.getMessage().startswith("sweep:")
    ]
    assert worker_lines
    assert all(str(job.pk) in record.getMessage() for record in worker_lines)
