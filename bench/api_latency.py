"""API latency and throughput: initiate and upload-complete under concurrent clients, against gunicorn
run as `make run` runs it (2 sync workers), on PostgreSQL and moto's S3 server.

    .venv/bin/python bench/api_latency.py [--clients 8] [--requests 1000]

The client threads share the machine's 2 cores with gunicorn, PostgreSQL and moto, so the figures are a
floor for what the API does on its own. The HeadObject share comes from the Server-Timing header that
upload-complete sends (the S3 call's own duration, measured inside the server).
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import common


def request(port: int, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Token {token}"}
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data
    finally:
        conn.close()


def server_timing(header: str) -> dict[str, float]:
    """``s3;dur=1.2;desc="HeadObject", verify;dur=3.4`` → {"s3": 1.2, "verify": 3.4} (milliseconds)."""
    parts = {}
    for metric in header.split(","):
        name, *params = metric.strip().split(";")
        for param in params:
            if param.startswith("dur="):
                parts[name] = float(param[4:])
    return parts


def start_gunicorn(port: int, endpoint: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "cricksy.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=common.ROOT,
        env=common.child_env(AWS_S3_ENDPOINT_URL=endpoint),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status, _, _ = request(port, "GET", "/api/video-jobs/", "none")
            if status == 401:
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def hammer(clients: int, calls: list[Any]) -> tuple[float, list[tuple[float, Any]]]:
    """Run the calls on ``clients`` threads; returns wall seconds and (latency, result) per call."""
    results: list[tuple[float, Any]] = []
    lock = threading.Lock()

    def one(call: Any) -> None:
        started = time.perf_counter()
        outcome = call()
        elapsed = time.perf_counter() - started
        with lock:
            results.append((elapsed, outcome))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, calls))
    return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    common.setup_django()
    common.truncate_jobs()
    from rest_framework.authtoken.models import Token

    from video_jobs.s3 import storage
    from video_jobs.s3.embedded import free_port

    token = Token.objects.get_or_create(user=common.bench_user())[0].key
    port = free_port()
    body = {"filename": "bench.mp4", "content_type": "video/mp4", "size_bytes": 1024}
    figures: dict[str, Any] = {"clients": args.clients, "gunicorn_workers": 2}
    with common.moto_s3() as endpoint:
        server = start_gunicorn(port, endpoint)
        try:
            initiate = lambda: request(port, "POST", "/api/video-jobs/initiate/", token, body)  # noqa: E731
            hammer(args.clients, [initiate] * 50)  # warm up both workers
            wall, results = hammer(args.clients, [initiate] * args.requests)
            assert all(result[0] == 201 for _, result in results), "an initiate failed"
            figures["initiate"] = {
                "requests_per_s": round(len(results) / wall, 1),
                **common.summary_ms([latency for latency, _ in results]),
            }

            ids = [json.loads(result[2])["id"] for _, result in results]
            s3 = storage.client()
            for job_id in ids:  # the clients' PUTs, untimed
                s3.put_object(Bucket=storage.bucket_name(), Key=storage.video_key(job_id), Body=b"x" * 1024)
            calls = [
                (
                    lambda job_id=job_id: request(
                        port, "POST", f"/api/video-jobs/{job_id}/upload-complete/", token
                    )
                )
                for job_id in ids
            ]
            wall, results = hammer(args.clients, calls)
            assert all(result[0] == 200 for _, result in results), "an upload-complete failed"
            latencies = [latency for latency, _ in results]
            timings = [server_timing(result[1]["Server-Timing"]) for _, result in results]
            s3_ms = [timing["s3"] for timing in timings]
            verify_ms = [timing["verify"] for timing in timings]
            figures["upload_complete"] = {
                "requests_per_s": round(len(results) / wall, 1),
                **common.summary_ms(latencies),
                "head_object_p50_ms": round(common.percentile(s3_ms, 50), 3),
                "head_object_share_of_total": round(sum(s3_ms) / 1000 / sum(latencies), 3),
                # The same without the time requests queue for one of the 2 gunicorn workers: the share
                # of the server's own verification (HeadObject + its database work).
                "head_object_share_of_verification": round(sum(s3_ms) / sum(verify_ms), 3),
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
    common.truncate_jobs()
    common.save(
        "api_latency",
        figures,
        command=f".venv/bin/python bench/api_latency.py --clients {args.clients} --requests {args.requests}",
    )


if __name__ == "__main__":
    main()
