"""``python -m video_jobs.client upload PATH --server URL --token TOKEN [--wait] [--json] [--parallel N]``.

Exit codes: 0 done (or uploaded, without --wait); 1 the job failed or was cancelled; 2 bad usage or a
refused request (4xx); 3 the server or S3 could not be reached after retries.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from .http import Api, Refused, Retry, Unreachable
from .upload import Uploader

DONE, FAILED, REFUSED, UNREACHABLE = 0, 1, 2, 3
ENDED_BADLY = ("failed", "cancelled")
PARALLEL = 4
# Seconds between two looks at a job being analysed.
POLL_INTERVAL = 1.0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m video_jobs.client", description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    upload = commands.add_parser("upload", help="upload a video (resumes an interrupted upload of it)")
    upload.add_argument("path", type=Path)
    upload.add_argument(
        "--server", default=os.environ.get("CRICKSY_SERVER"), help="e.g. http://127.0.0.1:8000"
    )
    upload.add_argument("--token", default=os.environ.get("CRICKSY_TOKEN"), help="your API token")
    # 4: on this 2-core machine 8 at once was slower (moto's server is CPU-bound; see bench/README.md).
    upload.add_argument(
        "--parallel", type=int, default=PARALLEL, help=f"parts sent at once (default {PARALLEL})"
    )
    upload.add_argument(
        "--tries", type=int, default=6, help="tries of each request before giving up (default 6)"
    )
    upload.add_argument("--wait", action="store_true", help="follow the analysis to its end")
    upload.add_argument("--json", action="store_true", help="print the job's body (JSON) at the end")
    upload.add_argument("--verbose", action="store_true", help="log each retry")
    return top


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse's own exit: 0 for --help, 2 for bad usage
        return int(exc.code or 0)
    console = Console(stderr=True)
    if not args.server or not args.token:
        console.print("--server and --token are required (or CRICKSY_SERVER and CRICKSY_TOKEN)")
        return REFUSED
    if args.parallel < 1 or args.tries < 1:
        console.print("--parallel and --tries must be at least 1")
        return REFUSED
    if not args.path.is_file():
        console.print(f"{args.path}: no such file")
        return REFUSED
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    retry = Retry(tries=args.tries)
    api = Api(args.server, args.token, retry=retry)
    try:
        job = Uploader(api, console, parallel=args.parallel, retry=retry).upload(args.path)
        if args.wait and job["status"] not in (*ENDED_BADLY, "done"):
            job = follow(api, job, console)
    except Refused as exc:
        console.print(f"refused: {exc}")
        return REFUSED
    except Unreachable as exc:
        console.print(f"unreachable: {exc}")
        return UNREACHABLE
    if args.json:
        print(json.dumps(job, indent=2))
    else:
        console.print(summary(job))
    return FAILED if job["status"] in ENDED_BADLY else DONE


def follow(api: Api, job: dict[str, Any], console: Console) -> dict[str, Any]:
    """Poll the job until it ends, showing its stage and progress."""
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(job["stage"], total=100)
        while job["status"] not in (*ENDED_BADLY, "done"):
            time.sleep(POLL_INTERVAL)
            job = api.call("GET", f"{job['id']}/").json()
            progress.update(task, description=job["stage"], completed=job["progress"])
    return job


def summary(job: dict[str, Any]) -> str:
    """A few lines about the job: its analysis when done, its error otherwise."""
    head = f"job {job['id']}: {job['status']}"
    if job["status"] in ENDED_BADLY:
        return f"{head} {job.get('error_code', '')}: {job.get('error_message', '')}".rstrip(": ")
    result = job.get("result")
    if job["status"] != "done" or not result:
        return f"{head} (uploaded; follow it with --wait)" if job["status"] != "done" else head
    video = result.get("video", {})
    segments = result.get("motion", {}).get("segments", [])
    poster = result.get("artifacts", {}).get(result.get("poster", {}).get("artifact", ""), {})
    return (
        f"{head}\n  duration {video.get('duration_seconds')} s, {video.get('width')}x{video.get('height')}"
        f"\n  {len(segments)} segment(s) of activity\n  poster {poster.get('key', '-')}"
    )


if __name__ == "__main__":
    sys.exit(main())
