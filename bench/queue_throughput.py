"""Queue throughput: jobs claimed and finished per second by the real worker (`manage.py run_worker`
with the no-op analyzer, so no download or decode) for 1, 2 and 4 worker processes, beside the machine's
limit for the same pattern: a minimal psycopg loop doing one claim and one finish statement per job.

    .venv/bin/python bench/queue_throughput.py [--jobs 5000] [--workers 1 2 4] [--rounds 5]

Workers start first and wait (LISTEN) on an empty queue; the jobs are then inserted in one statement and
announced with one NOTIFY, so process start-up is not measured. Throughput is jobs divided by the span from
the first claim (min started_at) to the last finish (max finished_at), read from the rows themselves, the
same way for both. Every run is checked: every job done, each claimed exactly once (attempts = 1).

The worker runs as the service runs by default: the INFO log (one line per job) to a file in bench/results.
The ratio reported is the median of each round's own ratio (both sides back to back), which this shared
machine's slow moments move far less than the ratio of two medians taken minutes apart.
"""

from __future__ import annotations

import argparse
import signal
import statistics
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
            raise RuntimeError("a worker process died: see bench/results/queue-throughput-*.log")
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
    workers = [
        common.start_worker(
            "--worker-id",
            f"bench-{index}",
            "--poll-interval",
            "5",
            log=f"queue-throughput-{index}",
            VIDEO_JOBS_ANALYZER=NOOP,
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
    parser.add_argument(
        "--rounds", type=int, default=5, help="pairs of runs, loop and worker back to back; medians reported"
    )
    args = parser.parse_args()
    common.setup_django()
    figures: dict[str, Any] = {"jobs": args.jobs, "rounds": args.rounds}
    for processes in args.workers:
        # Each round runs both sides back to back, the first side alternating, and its ratio is taken
        # within the round: a slow moment of this shared machine then weighs on both sides of one ratio.
        loops, workers, ratios = [], [], []
        for round_ in range(args.rounds):
            sides = [run_baseline, run_workers] if round_ % 2 == 0 else [run_workers, run_baseline]
            results = {side: side(processes, args.jobs) for side in sides}
            loops.append(results[run_baseline])
            workers.append(results[run_workers])
            ratios.append(workers[-1]["jobs_per_s"] / loops[-1]["jobs_per_s"])
        baseline = median_run(loops)
        worker = median_run(workers)
        figures[f"processes_{processes}"] = {
            "minimal_psycopg_loop": baseline,
            "run_worker": worker,
            "ratio": round(statistics.median(ratios), 3),
            "all_rounds": {
                "minimal_psycopg_loop_jobs_per_s": [run["jobs_per_s"] for run in loops],
                "run_worker_jobs_per_s": [run["jobs_per_s"] for run in workers],
                "ratio": [round(ratio, 3) for ratio in ratios],
            },
        }
        print(
            f"{processes} process(es): worker {worker['jobs_per_s']}/s, loop {baseline['jobs_per_s']}/s, "
            f"ratio {statistics.median(ratios):.0%} (rounds: {', '.join(f'{r:.0%}' for r in ratios)})",
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
