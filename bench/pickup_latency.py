"""Pickup latency: from the moment upload-complete commits a job as queued to the moment an idle, waiting
worker marks it processing; p50 and p95 over --jobs jobs, with LISTEN/NOTIFY and with polling only
(`run_worker --no-listen`, the default VIDEO_JOBS_POLL_INTERVAL of 1 s).

    .venv/bin/python bench/pickup_latency.py [--jobs 50]

Each job goes through the real path: initiate, PUT to moto's S3, services.complete_upload (HeadObject,
then the guarded UPDATE and its NOTIFY). The span is queued_at (stamped just before that UPDATE commits)
to started_at (stamped by the claim), both read back from the row. One job at a time, so the worker is
always idle and waiting when the job arrives.
"""

from __future__ import annotations

import argparse
import random
import signal
import time
from typing import Any

import common

NOOP = "video_jobs.analysis.noop_analyzer"
POLL_INTERVAL = 1.0  # VIDEO_JOBS_POLL_INTERVAL's default


def wait_for_status(job_id: Any, status: str, timeout: float = 30) -> None:
    from video_jobs.models import VideoAnalysisJob

    deadline = time.monotonic() + timeout
    while not VideoAnalysisJob.objects.filter(pk=job_id, status=status).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} did not reach {status}")
        time.sleep(0.01)


def measure(jobs: int, *, listen: bool) -> dict[str, Any]:
    from video_jobs import services
    from video_jobs.models import VideoAnalysisJob
    from video_jobs.s3 import storage

    common.truncate_jobs()
    args = ["--worker-id", "bench-pickup"] + ([] if listen else ["--no-listen"])
    worker = common.start_worker(
        *args,
        log="pickup-latency",
        VIDEO_JOBS_ANALYZER=NOOP,
        VIDEO_JOBS_POLL_INTERVAL=str(POLL_INTERVAL),
    )
    user = common.bench_user()
    s3 = storage.client()
    samples = []
    try:
        if listen:  # so that the first NOTIFY is not missed
            common.wait_for_listeners("bench-pickup", 1)
        for index in range(jobs + 1):
            if not listen:
                # Arrive at a random moment of the worker's poll cycle, as real uploads do; arriving right
                # after the previous job (the worker just went to sleep) would always wait a full interval.
                time.sleep(random.uniform(0, POLL_INTERVAL))
            job, _ = services.initiate_upload(
                owner=user, filename="bench.mp4", content_type="video/mp4", size_bytes=16
            )
            s3.put_object(Bucket=job.s3_bucket, Key=job.s3_key, Body=b"0123456789abcdef")
            assert services.complete_upload(job=job).changed
            wait_for_status(job.pk, VideoAnalysisJob.Status.DONE)
            job.refresh_from_db()
            if index:  # the first job only proves the worker is up and warm
                samples.append((job.started_at - job.queued_at).total_seconds())
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    return common.summary_ms(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=50)
    args = parser.parse_args()
    common.setup_django()
    with common.moto_s3():
        figures = {
            "listen_notify": measure(args.jobs, listen=True),
            "polling_only_1s": measure(args.jobs, listen=False),
        }
    common.truncate_jobs()
    common.save(
        "pickup_latency", figures, command=f".venv/bin/python bench/pickup_latency.py --jobs {args.jobs}"
    )


if __name__ == "__main__":
    main()
