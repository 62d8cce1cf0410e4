"""API throughput and latency: initiate and GET of a job under wrk, and upload-complete under concurrent
clients, against gunicorn exactly as `make run` starts it, on PostgreSQL and SeaweedFS (make run's S3).

    .venv/bin/python bench/api_latency.py [--users 8] [--duration 10] [--rounds 2] [--requests 1000]
        [--web-workers 2] [--threads 4]

wrk keeps ``--users`` connections open, one per thread, each with its own user's token (so initiates of
different users run side by side, and one user's take turns on its quota lock, as they would). Quotas are
raised and throttling is off, so nothing is refused: every answer must be a 2xx. Each round of initiates
starts with no jobs (a user's pending uploads, which the quota check counts, are then those of the round,
not of every run before it). The queries a call makes are counted in this process, through Django's test
client, on the same database. wrk shares the machine's
2 cores with gunicorn, PostgreSQL and SeaweedFS, so the figures are a floor for what the API does on its own.
upload-complete (a HeadObject per call) runs from Python threads, as before: its share of HeadObject comes
from the Server-Timing header it sends.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import common

INITIATE = "/api/video-jobs/initiate/"
BODY = {"filename": "bench.mp4", "content_type": "video/mp4", "size_bytes": 1024}

# One thread per connection, each with its own token and path; done() prints one line of JSON.
LUA = """
local tokens = {%(tokens)s}
local paths = {%(paths)s}
local method, body = "%(method)s", %(body)s
local count = 0
function setup(thread)
  count = count + 1
  thread:set("index", count)
end
function init(args)
  local i = ((index - 1) %% #tokens) + 1
  path = paths[i]
  -- This init replaces wrk's own, which would have set the Host header.
  headers = {
    ["Host"] = "%(host)s", ["Authorization"] = "Token " .. tokens[i], ["Content-Type"] = "application/json"
  }
end
function request()
  return wrk.format(method, path, headers, body)
end
local told = false
function response(status, headers, body)
  if status >= 300 and not told then
    told = true
    io.stderr:write("first refusal: " .. status .. " " .. string.sub(body, 1, 300) .. "\\n")
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %%d, "seconds": %%.3f, "p50_ms": %%.2f, "p99_ms": %%.2f, "max_ms": %%.2f, ' ..
    '"errors": %%d, "not_2xx": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def lua_list(values: list[str]) -> str:
    return ", ".join(json.dumps(value) for value in values)


def wrk(
    port: int, *, method: str, paths: list[str], tokens: list[str], body: str | None, seconds: int
) -> Any:
    """One wrk run of ``seconds``: its figures, and a refusal if any request was not a 2xx."""
    script = LUA % {
        "tokens": lua_list(tokens),
        "paths": lua_list(paths),
        "method": method,
        "host": f"127.0.0.1:{port}",
        "body": json.dumps(body) if body is not None else "nil",
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        threads = str(len(tokens))
        command = ["wrk", "-t", threads, "-c", threads, "-d", f"{seconds}s", "-s", handle.name]
        done = subprocess.run(
            [*command, f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True
        )
        output, stderr = done.stdout, done.stderr[:1000]
    finally:
        os.unlink(handle.name)
    match = re.search(r"^WRK (.*)$", output, re.MULTILINE)
    assert match, output
    figures = json.loads(match.group(1))
    if figures["errors"] or figures["not_2xx"]:
        raise RuntimeError(f"refused or failed requests: {figures} {stderr}")
    figures["requests_per_s"] = round(figures["requests"] / figures["seconds"], 1)
    return figures


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


def start_gunicorn(port: int, endpoint: str, workers: int, threads: int | None) -> subprocess.Popen[bytes]:
    from video_jobs.management.commands.run_dev import gunicorn_command

    process = subprocess.Popen(
        gunicorn_command(f"127.0.0.1:{port}", workers=workers, threads=threads),
        cwd=common.ROOT,
        env=common.child_env(AWS_S3_ENDPOINT_URL=endpoint, **NO_THROTTLE),
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


NO_THROTTLE = {"VIDEO_JOBS_THROTTLE_RATE": "off", "VIDEO_JOBS_THROTTLE_INITIATE_RATE": "off"}


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


def users_and_tokens(count: int) -> list[tuple[Any, str]]:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    users = [get_user_model().objects.get_or_create(username=f"bench-{n}")[0] for n in range(count)]
    return [(user, Token.objects.get_or_create(user=user)[0].key) for user in users]


def queries_per_call(token: str, job_id: str) -> dict[str, int]:
    """How many SQL statements each call runs, counted in this process through Django's test client."""
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    counts = {}
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        for name, call in (
            ("initiate", lambda: client.post(INITIATE, BODY, content_type="application/json")),
            ("get_job", lambda: client.get(f"/api/video-jobs/{job_id}/")),
        ):
            call()  # the first call of a process sets things up once
            with CaptureQueriesContext(connection) as queries:
                response = call()
            assert response.status_code in (200, 201), response.content
            counts[name] = len(queries)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=8, help="wrk connections, one user's token each")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=1000, help="upload-completes (0: skip them)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (make run: 2)")
    parser.add_argument(
        "--threads", type=int, default=None, help="threads per gunicorn worker (gthread; make run: sync)"
    )
    args = parser.parse_args()
    common.setup_django(**NO_THROTTLE)
    common.truncate_jobs()

    from video_jobs.s3 import storage
    from video_jobs.s3.embedded import free_port

    accounts = users_and_tokens(args.users)
    tokens = [token for _, token in accounts]
    port = free_port()
    body = json.dumps(BODY)
    figures: dict[str, Any] = {
        "users": args.users,
        "gunicorn_workers": args.web_workers,
        "gunicorn_threads": args.threads,
        "load_average": os.getloadavg(),
    }
    with common.s3_store("seaweedfs") as endpoint:
        os.environ["AWS_S3_ENDPOINT_URL"] = endpoint
        server = start_gunicorn(port, endpoint, args.web_workers, args.threads)
        try:
            # Warm every gunicorn worker up.
            wrk(port, method="POST", paths=[INITIATE] * len(tokens), tokens=tokens, body=body, seconds=2)
            for round_ in range(args.rounds):
                common.truncate_jobs()
                # One job per user for the GETs.
                jobs = [json.loads(request(port, "POST", INITIATE, token, BODY)[2])["id"] for token in tokens]
                paths = [f"/api/video-jobs/{job_id}/" for job_id in jobs]
                for name, method, call_paths, call_body in (
                    ("initiate", "POST", [INITIATE] * len(tokens), body),
                    ("get_job", "GET", paths, None),
                    ("healthz_live", "GET", ["/healthz/live"] * len(tokens), None),
                ):
                    run = wrk(
                        port,
                        method=method,
                        paths=call_paths,
                        tokens=tokens,
                        body=call_body,
                        seconds=args.duration,
                    )
                    figures.setdefault(name, {"rounds": []})["rounds"].append(run)
                    print(
                        f"round {round_ + 1} {name}: {run['requests_per_s']} req/s, p50 {run['p50_ms']} ms, "
                        f"p99 {run['p99_ms']} ms",
                        flush=True,
                    )
            for name in ("initiate", "get_job", "healthz_live"):
                best = max(figures[name]["rounds"], key=lambda run: run["requests_per_s"])
                figures[name].update({key: best[key] for key in ("requests_per_s", "p50_ms", "p99_ms")})
            figures["queries_per_request"] = queries_per_call(tokens[0], jobs[0])
            if args.requests:
                figures["upload_complete"] = upload_completes(port, tokens[0], args.requests, storage)
        finally:
            server.terminate()
            server.wait(timeout=30)
    figures["load_average_after"] = os.getloadavg()
    common.truncate_jobs()
    command = (
        f".venv/bin/python bench/api_latency.py --users {args.users} --duration {args.duration} "
        f"--rounds {args.rounds} --requests {args.requests} --web-workers {args.web_workers}"
        + (f" --threads {args.threads}" if args.threads is not None else "")
    )
    common.save("api_latency", figures, command=command)


def upload_completes(port: int, token: str, count: int, storage: Any) -> dict[str, Any]:
    """``count`` upload-completes of fresh jobs from 8 Python threads, with HeadObject's share."""
    initiate = lambda: request(port, "POST", INITIATE, token, BODY)  # noqa: E731
    _, results = hammer(8, [initiate] * count)
    ids = [json.loads(result[2])["id"] for _, result in results]
    s3 = storage.client()
    for job_id in ids:  # the clients' PUTs, untimed
        s3.put_object(Bucket=storage.bucket_name(), Key=storage.video_key(job_id), Body=b"x" * 1024)
    calls = [
        (lambda job_id=job_id: request(port, "POST", f"/api/video-jobs/{job_id}/upload-complete/", token))
        for job_id in ids
    ]
    wall, results = hammer(8, calls)
    assert all(result[0] == 200 for _, result in results), "an upload-complete failed"
    latencies = [latency for latency, _ in results]
    timings = [server_timing(result[1]["Server-Timing"]) for _, result in results]
    s3_ms = [timing["s3"] for timing in timings]
    verify_ms = [timing["verify"] for timing in timings]
    return {
        "requests_per_s": round(len(results) / wall, 1),
        **common.summary_ms(latencies),
        "head_object_p50_ms": round(common.percentile(s3_ms, 50), 3),
        "head_object_share_of_total": round(sum(s3_ms) / 1000 / sum(latencies), 3),
        # The same without the time requests queue for a gunicorn worker: the share of the server's own
        # verification (HeadObject + its database work).
        "head_object_share_of_verification": round(sum(s3_ms) / sum(verify_ms), 3),
    }


if __name__ == "__main__":
    sys.exit(main())
