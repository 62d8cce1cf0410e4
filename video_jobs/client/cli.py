"""``cricksy-upload upload PATH`` (or ``python -m video_jobs.client upload PATH``) and ``cricksy-upload
status JOB``, with ``--server URL --token TOKEN`` (or CRICKSY_SERVER and CRICKSY_TOKEN).

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
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from .http import Api, ClientError, Refused, Retry, Unreachable
from .probe import ACCEPTED, video_type
from .report import summary
from .upload import Uploader

DONE, FAILED, REFUSED, UNREACHABLE = 0, 1, 2, 3
ENDED_BADLY = ("failed", "cancelled")
ENDED = (*ENDED_BADLY, "done")
PARALLEL = 4
# Seconds between two looks at a job being analysed.
POLL_INTERVAL = 1.0


class Usage(ClientError):
    """The command line cannot work as given: one line says why (exit 2)."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="cricksy-upload", description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    upload = commands.add_parser("upload", help="upload a video (resumes an interrupted upload of it)")
    upload.add_argument("path", type=Path)
    # 4: on this 2-core machine 8 at once was slower (the embedded S3 is CPU-bound; see bench/README.md).
    upload.add_argument(
        "--parallel", type=int, default=PARALLEL, help=f"parts sent at once (default {PARALLEL})"
    )
    upload.add_argument(
        "--new",
        action="store_true",
        help="upload as a new job even if this file was uploaded before (say, after its job failed)",
    )
    status = commands.add_parser("status", help="show a job (and follow it with --wait)")
    status.add_argument("job", help="the job's id")
    for command in (upload, status):
        command.add_argument(
            "--server", default=os.environ.get("CRICKSY_SERVER"), help="e.g. http://127.0.0.1:8000"
        )
        command.add_argument("--token", default=os.environ.get("CRICKSY_TOKEN"), help="your API token")
        command.add_argument(
            "--tries", type=int, default=6, help="tries of each request before giving up (default 6)"
        )
        command.add_argument("--wait", action="store_true", help="follow the analysis to its end")
        command.add_argument("--json", action="store_true", help="print the job's body (JSON) at the end")
        command.add_argument("--verbose", action="store_true", help="log each retry")
    return top


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse's own exit: 0 for --help, 2 for bad usage
        return int(exc.code or 0)
    # Progress and messages on stderr; the summary (or --json) on stdout. Each message one line, however
    # narrow the terminal; no highlighting (rich coloured 1280x720 as a hex number).
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        job = run(args, console)
    except Usage as exc:
        console.print(str(exc), markup=False)
        return REFUSED
    except Refused as exc:
        console.print(f"refused: {exc}", markup=False)
        return REFUSED
    except Unreachable as exc:
        console.print(f"unreachable: {exc}", markup=False)
        return UNREACHABLE
    if args.json:
        print(json.dumps(job, indent=2))
    else:
        Console(highlight=False, soft_wrap=True).print(summary(job), markup=False)
    return FAILED if job["status"] in ENDED_BADLY else DONE


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    server = checked_server(args.server)
    if not args.token:
        raise Usage("--token is required (or CRICKSY_TOKEN): your API token")
    if args.tries < 1:
        raise Usage("--tries must be at least 1")
    retry = Retry(tries=args.tries)
    api = Api(server, args.token, retry=retry)
    if args.command == "status":
        job: dict[str, Any] = api.call("GET", f"{args.job}/").json()
    else:
        if args.parallel < 1:
            raise Usage("--parallel must be at least 1")
        content_type = checked_video(args.path)
        uploader = Uploader(api, console, parallel=args.parallel, retry=retry)
        job = uploader.upload(args.path, content_type, new=args.new)
    if args.wait and job["status"] not in ENDED:
        job = follow(api, job, console)
    return job


def checked_server(server: str | None) -> str:
    if not server:
        raise Usage("--server is required (or CRICKSY_SERVER), e.g. http://127.0.0.1:8000")
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Usage(f"--server {server}: give the server's address with its scheme, e.g. http://{server}")
    return server


def checked_video(path: Path) -> str:
    """The file's content type, found from its first bytes; a refusal before a byte is hashed or sent."""
    if not path.is_file():
        raise Usage(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise Usage(f"{path}: the file is empty")
    content_type = video_type(path)
    if content_type is None:
        raise Usage(f"{path}: not a video this service accepts ({ACCEPTED})")
    return content_type


def follow(api: Api, job: dict[str, Any], console: Console) -> dict[str, Any]:
    """Poll the job until it ends, showing its stage and progress."""
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(job["stage"], total=100)
        while job["status"] not in ENDED:
            time.sleep(POLL_INTERVAL)
            job = api.call("GET", f"{job['id']}/").json()
            progress.update(task, description=job["stage"], completed=job["progress"])
    return job


if __name__ == "__main__":
    sys.exit(main())
