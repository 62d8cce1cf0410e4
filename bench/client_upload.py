"""Upload throughput of the command-line client against boto3's own ``upload_file``, same file, same S3: on
moto's server and on SeaweedFS (a real store: it checks every signature and keeps the parts on disk), one
after the other in the same run.

    .venv/bin/python bench/client_upload.py [--size-mib 1024] [--rounds 2] [--parallel 4]
        [--before DIR [--before-parallel 4]] [--stores moto seaweedfs]

The client (``python -m video_jobs.client upload``, a process of its own, 4 parts in parallel) talks to
gunicorn for initiate, part URLs and upload-complete and PUTs 16 MiB parts straight to the S3 server;
boto3's ``upload_file`` (its default TransferConfig: 8 MiB parts, 10 threads) PUTs to the same server with
no API in between. The client's time includes what boto3 does not do: hashing the file (SHA-256, timed
separately here too), the API calls and upload-complete's assembly and HeadObject. Its upload phase is
read from the job: initiate to queued (``created_at`` to ``queued_at``), the parts, the assembly and the
HeadObject, which is what ``upload_file`` does (less the HeadObject). ``--before DIR`` also times the
client of another checkout (e.g. a git worktree of an older commit) in the same rounds, so a change is
measured at the same moment on the same machine. Rounds alternate the sides; the figures are medians.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common
from api_latency import start_gunicorn

from video_jobs.s3.embedded import free_port

BLOCK = 8 * 1024**2


def write_file(path: Path, size: int) -> None:
    """A real clip padded to ``size`` bytes of incompressible data (the client refuses what is no video)."""
    from video_jobs.devtools.synthetic_video import pad_video, write_test_video

    write_test_video(path, seconds=4, width=160, height=90, fps=10)
    pad_video(path, size)


def time_hash(path: Path) -> float:
    started = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(BLOCK):
            digest.update(chunk)
    return time.perf_counter() - started


def time_client(path: Path, port: int, token: str, parallel: int, root: Path) -> tuple[float, float]:
    """The client's whole run, and its upload phase (initiate to queued, by the job's own times)."""
    from video_jobs.models import VideoAnalysisJob
    from video_jobs.s3 import storage

    common.truncate_jobs()  # the same file would otherwise resume (replay) the same job
    command = [sys.executable, "-m", "video_jobs.client", "upload", str(path), "--parallel", str(parallel)]
    command += ["--server", f"http://127.0.0.1:{port}", "--token", token, "--json"]
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=root, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    took = time.perf_counter() - started
    job = VideoAnalysisJob.objects.get()
    assert job.status == VideoAnalysisJob.Status.QUEUED, job.status
    assert job.queued_at
    # moto keeps every object in its process: one gigabyte per run adds up (it answered 500s); SeaweedFS
    # keeps it in the run's temporary folder.
    storage.client().delete_object(Bucket=job.s3_bucket, Key=job.s3_key)
    return took, (job.queued_at - job.created_at).total_seconds()


def time_boto3(path: Path, round_number: int) -> float:
    from video_jobs.s3 import storage

    started = time.perf_counter()
    # The assembling client (the long read timeout the server's own completion uses): moto takes seconds
    # to assemble a gigabyte on a busy machine, and a timed-out completion retried answers 500.
    client = storage.assembling_client()
    client.upload_file(str(path), storage.bucket_name(), f"bench/boto3-{round_number}")
    took = time.perf_counter() - started
    storage.client().delete_object(Bucket=storage.bucket_name(), Key=f"bench/boto3-{round_number}")
    return took


def run_store(args: argparse.Namespace, sides: dict[str, tuple[Path, int]], path: Path, token: str) -> Any:
    """The rounds on the S3 the settings point at: medians for each side and for boto3."""
    whole: dict[str, list[float]] = {side: [] for side in sides}
    upload: dict[str, list[float]] = {side: [] for side in sides}
    boto3_s: list[float] = []
    port = free_port()
    server = start_gunicorn(port, os.environ["AWS_S3_ENDPOINT_URL"], 2, None)  # as make run runs it
    try:
        for round_number in range(args.rounds):
            order = list(sides) if round_number % 2 == 0 else list(reversed(sides))
            for side in order:
                took, uploading = time_client(path, port, token, sides[side][1], sides[side][0])
                whole[side].append(took)
                upload[side].append(uploading)
            boto3_s.append(time_boto3(path, round_number))
    finally:
        server.kill()
        server.wait()
    mib = args.size_mib
    boto3 = statistics.median(boto3_s)
    figures: dict[str, Any] = {
        "boto3_upload_file_seconds": round(boto3, 2),
        "boto3_upload_file_mib_per_s": round(mib / boto3, 1),
    }
    for side, (root, parallel) in sides.items():
        total, phase = statistics.median(whole[side]), statistics.median(upload[side])
        figures[side] = {
            "root": str(root),
            "parallel": parallel,
            "seconds": round(total, 2),
            "mib_per_s": round(mib / total, 1),
            "upload_phase_seconds": round(phase, 2),
            "upload_phase_mib_per_s": round(mib / phase, 1),
            "over_boto3": round(boto3 / total, 2),
            "upload_phase_over_boto3": round(boto3 / phase, 2),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=4, help="the client's --parallel")
    parser.add_argument("--before", type=Path, help="a checkout whose client is timed too, for comparison")
    parser.add_argument("--before-parallel", type=int, default=4, help="its --parallel")
    parser.add_argument("--stores", nargs="+", choices=common.STORES, default=list(common.STORES))
    args = parser.parse_args()
    common.setup_django()
    from rest_framework.authtoken.models import Token

    token = Token.objects.get_or_create(user=common.bench_user())[0].key
    sides = {"client": (common.ROOT, args.parallel)}
    if args.before:
        sides["before"] = (args.before.resolve(), args.before_parallel)
    figures: dict[str, Any] = {"size_mib": args.size_mib, "rounds": args.rounds}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "match.mp4"
        write_file(path, args.size_mib * 1024**2)
        figures["read_sha256_seconds"] = round(statistics.median(time_hash(path) for _ in range(2)), 2)
        for store in args.stores:
            with common.s3_store(store):
                figures[store] = run_store(args, sides, path, token)
    before = f" --before {args.before} --before-parallel {args.before_parallel}" if args.before else ""
    common.save(
        "client_upload",
        figures,
        command=f".venv/bin/python bench/client_upload.py --size-mib {args.size_mib} --rounds {args.rounds}"
        f" --parallel {args.parallel}{before} --stores {' '.join(args.stores)}",
    )


if __name__ == "__main__":
    main()
