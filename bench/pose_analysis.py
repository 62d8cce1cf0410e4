"""The default analysis (motion, poster and pose) against motion alone, as times realtime, on one worker: 60 s
clips at 1080p30 and 720p30 of a real person (scikit-image's astronaut photograph crossing a field, with
sensor grain at x264's default quality: about a phone's bitrate), each analysed in a child of the worker's
analysis server under the default limits, as a worker runs it.

    .venv/bin/python bench/pose_analysis.py [--seconds 60] [--rounds 2] [--sizes 1080 720] [--videos DIR]

Then where the time goes, in this process with timers around each step of one full analysis: decoding
(every frame, with the analyzer's own decoder settings), scaling the sampled frames for the model, the
model itself, and the rest (motion thumbnails, poster, result). The two ways alternate, round after round;
medians reported. ``--videos`` keeps the clips (making them takes minutes). Needs requirements-dev.txt
(scikit-image). No database, no S3.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common

SIZES = {1080: (1920, 1080), 720: (1280, 720)}
FPS = 30


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def decode_only(path: Path) -> tuple[float, float]:
    """Every frame decoded as the analyzer decodes them (threads, options), nothing else: (wall, CPU)
    seconds."""
    import av

    from video_jobs.analysis import Limits
    from video_jobs.analysis.video import FRAME_THREADS_MIN_PIXELS

    limits = Limits.from_settings()

    def run() -> None:
        with av.open(str(path), options=limits.codec_options()) as container:
            stream = container.streams.video[0]
            context = stream.codec_context
            context.thread_count = limits.decoder_threads
            if (context.width or 0) * (context.height or 0) >= FRAME_THREADS_MIN_PIXELS:
                context.thread_type = "AUTO"
            for _ in container.decode(stream):
                pass

    cpu = time.process_time()
    wall = timed(run)
    return wall, time.process_time() - cpu


def breakdown(path: Path) -> dict[str, float]:
    """One full analysis in this process, with timers around the pose's scaling and inference."""
    from av.video.reformatter import VideoReformatter

    from video_jobs.analysis import analyze_video
    from video_jobs.analysis import pose as pose_module

    spent = {"scale_s": 0.0, "inference_s": 0.0}
    original_reformat = VideoReformatter.reformat
    original_infer = pose_module.PoseTracker._infer

    def reformat(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_reformat(self, *args, **kwargs)
        finally:
            if kwargs.get("format") == "rgb24":  # the pose's scaling (motion's thumbnails are grey)
                spent["scale_s"] += time.perf_counter() - started

    def infer(self: Any, pixels: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_infer(self, pixels)
        finally:
            spent["inference_s"] += time.perf_counter() - started

    VideoReformatter.reformat = reformat  # type: ignore[method-assign]
    pose_module.PoseTracker._infer = infer  # type: ignore[method-assign]
    cpu = time.process_time()
    try:
        total = timed(lambda: analyze_video(path))
        # Every thread's CPU time (the decoder's, the model's): what the analysis costs whatever the load.
        cpu = time.process_time() - cpu
    finally:
        VideoReformatter.reformat = original_reformat  # type: ignore[method-assign]
        pose_module.PoseTracker._infer = original_infer  # type: ignore[method-assign]
    decode, decode_cpu = decode_only(path)
    return {
        "total_s": round(total, 2),
        "cpu_s": round(cpu, 2),
        "decode_s": round(decode, 2),
        "decode_cpu_s": round(decode_cpu, 2),
        "scale_s": round(spent["scale_s"], 2),
        "inference_s": round(spent["inference_s"], 2),
        "rest_s": round(total - decode - spent["scale_s"] - spent["inference_s"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1080, 720], choices=sorted(SIZES))
    parser.add_argument(
        "--videos", type=Path, help="a folder to keep the clips in (made once: minutes at 1080p)"
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cricksy.settings")
    # No database, no S3: the development settings will do (their analysis limits are the defaults).
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    from django.conf import settings

    from video_jobs.analysis import JobInfo, analyze_video
    from video_jobs.devtools.synthetic_video import astronaut, write_person_video
    from video_jobs.models import VideoAnalysisJob
    from video_jobs.worker.sandbox import Sandbox

    job = JobInfo.of(VideoAnalysisJob(worker_id="bench", attempts=1))
    motion_alone = functools.partial(analyze_video, pose_fps=0)
    figures: dict[str, Any] = {
        "pose_fps": settings.VIDEO_JOBS_POSE_FPS,
        "decoder_threads": settings.VIDEO_JOBS_DECODER_THREADS,
        "load_average_before": os.getloadavg(),
    }
    sandbox = Sandbox(
        memory_mb=settings.VIDEO_JOBS_ANALYSIS_MEMORY_MB, timeout=settings.VIDEO_JOBS_ANALYSIS_TIMEOUT
    )
    sandbox.start()
    try:
        with tempfile.TemporaryDirectory() as temporary:
            folder = args.videos or Path(temporary)
            folder.mkdir(parents=True, exist_ok=True)
            for size in args.sizes:
                width, height = SIZES[size]
                video = folder / f"person-{args.seconds}s-{size}p{FPS}.mp4"
                if not video.exists():
                    made = write_person_video(  # made outside the measured time
                        video.with_suffix(".part.mp4"), astronaut(), seconds=args.seconds, width=width,
                        height=height, fps=FPS, grain=8, crf=23,
                    )  # fmt: skip
                    made.rename(video)

                def in_child(analyzer: Any, video: Path = video) -> Any:
                    return sandbox.run(analyzer, video, job=job, progress=lambda f: None, check=lambda: None)

                full: list[float] = []
                motion: list[float] = []
                found: dict[str, Any] = {}
                for index in range(args.rounds):
                    pair = [(full, analyze_video), (motion, motion_alone)]
                    for times, analyzer in pair if index % 2 == 0 else reversed(pair):
                        started = time.perf_counter()
                        analysis = in_child(analyzer)
                        times.append(time.perf_counter() - started)
                        found = analysis.result.get("pose", found)
                full_s, motion_s = statistics.median(full), statistics.median(motion)
                figures[f"{size}p{FPS}"] = {
                    "video": {
                        "seconds": args.seconds,
                        "width": width,
                        "height": height,
                        "fps": FPS,
                        "bytes": video.stat().st_size,
                    },
                    "default_analysis_s": round(full_s, 2),
                    "default_x_realtime": round(args.seconds / full_s, 2),
                    "motion_alone_s": round(motion_s, 2),
                    "motion_alone_x_realtime": round(args.seconds / motion_s, 2),
                    "all_rounds": {
                        "default_s": [round(t, 2) for t in full],
                        "motion_s": [round(t, 2) for t in motion],
                    },
                    "pose_sampled_frames": found["sampled_frames"],
                    "pose_person_frames": found["person_frames"],
                    "where_the_time_goes_in_process": breakdown(video),
                }
    finally:
        sandbox.close()
    figures["load_average_after"] = os.getloadavg()
    sizes = " ".join(str(size) for size in args.sizes)
    common.save(
        "pose_analysis",
        figures,
        command=(
            f".venv/bin/python bench/pose_analysis.py --seconds {args.seconds} --rounds {args.rounds} "
            f"--sizes {sizes}"
        ),
    )


if __name__ == "__main__":
    main()
