"""Queue throughput: jobs claimed and finished per second by the real worker (`manage.py run_worker`
with the no-op analyzer, so no download or decode) for 1, 2 and 4 worker processes, beside the machine's
limit for the same pattern: a minimal psycopg loop doing one claim and one finish statement per job.

    .venv/bin/python bench/queue_throughput.py [--jobs 5000] [--workers 1 2 4] [--rounds 3]

Workers start first and wait (LISTEN) on an empty queue; the jobs are then inserted in one statement and
announced with one NOTIFY, so process start-up is not measured. Throughput is jobs divided by the span from
the first claim (min started_at) to the last finish (max finished_at), read from the rows themselves, the
same way for both. Every run is checked: every job done, each claimed exactly once (attempts = 1).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from typing import Any

import common

NOOP = "video_jobs.analysis.noop_analyzer"


def span_and_check(expected: int) -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE attempts <> 1),"
            " count(*), extract(epoch FROM max(finished_at) - min(started_at)),"
            " count(DISTINCT worker_id) FROM video_jobs_videoanalysisjob"
        )
        done, not_once, total, seconds, workers = cursor.fetchone()
    assert total == expected, f"{total} rows, expected {expected}"
    assert done == expected, f"only {done} of {expected} jobs done"
    assert not_once == 0, f"{not_once} jobs were claimed more than once"
    return {
        "jobs_per_s": round(expected / float(seconds), 1),
        "seconds": round(float(seconds), 3),
        "workers_that_claimed": workers,
    }


def wait_until_done(expected: int, processes: list[subprocess.Popen[bytes]], timeout: float = 300) -> None:
    from django.db import connection

    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM video_jobs_videoanalysisjob WHERE status = 'done'")
            if cursor.fetchone()[0] >= expected:
                return
        if any(process.poll() not in (None, 0) for process in processes):
            raise RuntimeError("a worker process died")
        if time.monotonic() > deadline:
            raise RuntimeError("the queue did not drain in time")
        time.sleep(0.05)


def enqueue(count: int) -> None:
    from django.db import connection

    from video_jobs import services

    common.bulk_jobs(count=count, status="queued")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, 'bench')", [services.QUEUED_CHANNEL])


def run_workers(processes: int, jobs: int) -> dict[str, Any]:
    common.truncate_jobs()
    env = common.child_env(VIDEO_JOBS_ANALYZER=NOOP)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "run_worker",
                "--worker-id",
                f"bench-{index}",
                "--poll-interval",
                "5",
            ],
            cwd=common.ROOT,
            env=env,
        )
        for index in range(processes)
    ]
    try:
        common.wait_for_listeners("bench-", processes)
        enqueue(jobs)
        wait_until_done(jobs, workers)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(timeout=60) == 0, "a worker did not stop gracefully"
    return span_and_check(jobs)


def run_baseline(processes: int, jobs: int) -> dict[str, Any]:
    common.truncate_jobs()
    common.bulk_jobs(count=jobs, status="queued")
    loops = [
        subprocess.Popen(
            [sys.executable, "bench/baseline_loop.py", common.database_url(), f"base-{index}"],
            cwd=common.ROOT,
            stdout=subprocess.DEVNULL,
        )
        for index in range(processes)
    ]
    for loop in loops:
        assert loop.wait(timeout=300) == 0
    return span_and_check(jobs)


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda run: run["jobs_per_s"])[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each; medians reported")
    args = parser.parse_args()
    common.setup_django()
    figures: dict[str, Any] = {"jobs": args.jobs, "rounds": args.rounds}
    for processes in args.workers:
        # Alternated, so that a slow moment of the machine does not land on one side only.
        loops, workers = [], []
        for _ in range(args.rounds):
            loops.append(run_baseline(processes, args.jobs))
            workers.append(run_workers(processes, args.jobs))
        baseline = median_run(loops)
        worker = median_run(workers)
        figures[f"processes_{processes}"] = {
            "minimal_psycopg_loop": baseline,
            "run_worker": worker,
            "ratio": round(worker["jobs_per_s"] / baseline["jobs_per_s"], 3),
            "all_rounds_jobs_per_s": {
                "minimal_psycopg_loop": [run["jobs_per_s"] for run in loops],
                "run_worker": [run["jobs_per_s"] for run in workers],
            },
        }
        print(
            f"{processes} process(es): worker {worker['jobs_per_s']}/s, loop {baseline['jobs_per_s']}/s",
            flush=True,
        )
    common.truncate_jobs()
    workers = " ".join(str(n) for n in args.workers)
    common.save(
        "queue_throughput",
        figures,
        command=f".venv/bin/python bench/queue_throughput.py --jobs {args.jobs} --workers {workers} "
        f"--rounds {args.rounds}",
    )


if __name__ == "__main__":
    main()
