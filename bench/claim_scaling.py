"""Claim time with 1,000 rows in the table and with 1,000,000 (mostly finished) rows: it must stay flat.

.venv/bin/python bench/claim_scaling.py [--claims 500]
"""

from __future__ import annotations

import argparse
import time

import common

QUEUED = 500


def measure(claims: int) -> dict[str, float]:
    from video_jobs import services
    from video_jobs.ops import metrics

    samples = []
    # As a worker runs it: metric observations held in memory, not a transaction per claim.
    with metrics.buffered():
        for index in range(claims):
            started = time.perf_counter()
            job = services.claim_next_job(worker_id=f"bench-{index}")
            samples.append(time.perf_counter() - started)
            assert job is not None, "the queue ran dry"
    return common.summary_ms(samples)


def plan() -> str:
    """EXPLAIN of the worker's own claim statement (not executed)."""
    from django.db import connection

    from video_jobs.services import leases, sql

    params = leases.claim_params("explain", None)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql.CLAIM_SQL, params)
        return " / ".join(row[0].strip() for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=QUEUED)
    parser.add_argument("--big", type=int, default=1_000_000)
    args = parser.parse_args()
    common.setup_django()
    figures = {}
    for total in (1_000, args.big):
        common.truncate_jobs()
        common.bulk_jobs(count=total - args.claims, status="done")
        common.bulk_jobs(count=args.claims, status="queued")
        measure(20)  # warm the connection and caches; the queue has room for these
        common.bulk_jobs(count=20, status="queued")
        figures[f"rows_{total}"] = measure(args.claims)
        figures[f"rows_{total}"]["plan"] = plan()
    small, big = figures["rows_1000"]["p50_ms"], figures[f"rows_{args.big}"]["p50_ms"]
    figures["p50_ratio_big_over_small"] = round(big / small, 2)
    common.truncate_jobs()
    common.save(
        "claim_scaling",
        figures,
        command=f".venv/bin/python bench/claim_scaling.py --claims {args.claims} --big {args.big}",
    )


if __name__ == "__main__":
    main()
