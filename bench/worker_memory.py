"""Worker peak memory (VmHWM of the worker process) for videos of 10 MB, 100 MB and 1 GB: it must stay flat.

    .venv/bin/python bench/worker_memory.py [--sizes-mb 10 100 1024]

Each video is a real 20-second H.264 clip (PyAV, 320x180) padded to the size with an MP4 `free` box, which
every demuxer skips: the worker downloads, hashes and stores every byte, and the default PyAV analyzer
decodes the clip (the ten-minute-video test covers decode length). One `run_worker --burst` per video,
its peak resident memory read from /proc while it runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import common


def padded_video(path: Path, size: int) -> None:
    from video_jobs.devtools.synthetic_video import pad_video, write_test_video

    write_test_video(path, seconds=20, width=320, height=180, fps=25)
    pad_video(path, size)


def peak_rss_of(process: subprocess.Popen[bytes]) -> int:
    """Poll /proc/<pid>/status until the process exits; returns its last-seen VmHWM (peak RSS) in KiB."""
    peak = 0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.02)
    return peak


def uploader() -> Any:
    """A client for the benchmark's own upload: moto needs longer than the app's 10 s read timeout to
    assemble a 1 GB multipart upload."""
    import boto3
    from botocore.config import Config
    from django.conf import settings

    return boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"],
        region_name=settings.AWS_S3_REGION_NAME,
        config=Config(read_timeout=600, retries={"max_attempts": 1}),
    )


def measure(size_mb: int, folder: Path) -> dict[str, Any]:
    from video_jobs import services
    from video_jobs.models import VideoAnalysisJob

    common.truncate_jobs()
    path = folder / f"video-{size_mb}.mp4"
    padded_video(path, size_mb * 1024 * 1024)
    size = path.stat().st_size
    job, _ = services.initiate_upload(
        owner=common.bench_user(), filename=path.name, content_type="video/mp4", size_bytes=size
    )
    uploader().upload_file(str(path), job.s3_bucket, job.s3_key)
    path.unlink()
    assert services.complete_upload(job=job).changed
    started = time.monotonic()
    worker = common.start_worker("--burst", "--worker-id", "bench-memory", log="worker-memory")
    peak_kib = peak_rss_of(worker)
    assert worker.wait() == 0
    job.refresh_from_db()
    assert job.status == VideoAnalysisJob.Status.DONE, (job.status, job.error_code, job.error_message)
    assert job.result["source"]["size_bytes"] == size
    return {
        "video_bytes": size,
        "worker_peak_rss_mib": round(peak_kib / 1024, 1),
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[10, 100, 1024])
    args = parser.parse_args()
    common.setup_django()
    figures: dict[str, Any] = {}
    with common.moto_s3(), tempfile.TemporaryDirectory() as folder:
        for size_mb in args.sizes_mb:
            figures[f"video_{size_mb}_mb"] = measure(size_mb, Path(folder))
            print(f"{size_mb} MB: {figures[f'video_{size_mb}_mb']}", flush=True)
    peaks = [entry["worker_peak_rss_mib"] for entry in figures.values()]
    figures["peak_ratio_largest_over_smallest"] = round(peaks[-1] / peaks[0], 3)
    common.truncate_jobs()
    sizes = " ".join(str(size) for size in args.sizes_mb)
    common.save(
        "worker_memory", figures, command=f".venv/bin/python bench/worker_memory.py --sizes-mb {sizes}"
    )


if __name__ == "__main__":
    main()
