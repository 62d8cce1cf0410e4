"""What running each analysis in a child process costs: the default analyzer on a 10 s 720p video in the
benchmark's own process against the same analysis through the worker's sandbox (``video_jobs/worker/
sandbox.py``: a child forked from the analysis server, under its memory and time limits).

    .venv/bin/python bench/analysis_child.py [--rounds 5] [--empty 50]

The video is made with PyAV like the tests' (``synthetic_video``), with sensor grain at x264's default
quality so that it decodes like a phone's 720p (about 15 Mbit/s). The two ways alternate, round after
round, so that both see the same machine; the figure is the median of the rounds' ratios. Also measured:
a child that analyses nothing (the fixed cost of one child: fork, request, outcome, reaping), and the
start of an analysis server, which a worker pays once, when it starts. No database, no S3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import common


def timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--empty", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cricksy.settings")
    import django

    django.setup()
    from django.conf import settings

    from video_jobs.analysis import JobInfo, analyze_video, noop_analyzer
    from video_jobs.devtools.synthetic_video import write_test_video
    from video_jobs.models import VideoAnalysisJob
    from video_jobs.worker.sandbox import Sandbox

    job = JobInfo.of(VideoAnalysisJob(worker_id="bench", attempts=1))
    with tempfile.TemporaryDirectory() as folder:
        video = write_test_video(
            Path(folder) / "720p.mp4", seconds=10, width=1280, height=720, fps=25, grain=8, crf=23
        )
        size = video.stat().st_size
        sandbox = Sandbox(
            memory_mb=settings.VIDEO_JOBS_ANALYSIS_MEMORY_MB, timeout=settings.VIDEO_JOBS_ANALYSIS_TIMEOUT
        )
        server_start = timed(sandbox.start)

        def in_child(analyzer: Any) -> Any:
            return sandbox.run(analyzer, video, job=job, progress=lambda fraction: None, check=lambda: None)

        try:
            # Once each before measuring: the page cache, PyAV's first-use set-up.
            assert in_child(analyze_video).result == analyze_video(video).result
            here, child = [], []
            for index in range(args.rounds):
                pair = [("here", lambda: analyze_video(video)), ("child", lambda: in_child(analyze_video))]
                for name, call in pair if index % 2 == 0 else reversed(pair):
                    (here if name == "here" else child).append(timed(call))
            empty = [timed(lambda: in_child(noop_analyzer)) for _ in range(args.empty)]
        finally:
            sandbox.close()

    ratios = [c / h for h, c in zip(here, child, strict=True)]
    figures = {
        "video": {"seconds": 10, "width": 1280, "height": 720, "fps": 25, "bytes": size},
        "in_process_s": round(statistics.median(here), 3),
        "in_child_s": round(statistics.median(child), 3),
        "child_over_in_process": round(statistics.median(ratios), 4),
        "all_rounds": {
            "in_process_s": [round(value, 3) for value in here],
            "in_child_s": [round(value, 3) for value in child],
        },
        "empty_child": common.summary_ms(empty),
        "server_start_s": round(server_start, 2),
        "decoder_threads": settings.VIDEO_JOBS_DECODER_THREADS,
    }
    common.save(
        "analysis_child",
        figures,
        command=f".venv/bin/python bench/analysis_child.py --rounds {args.rounds} --empty {args.empty}",
    )


if __name__ == "__main__":
    main()
