"""The machine's limit for the claim/finish pattern: a minimal psycopg loop, one claim statement and one
finish statement per job, no framework. Run as a module by queue_throughput.py (one process per worker).

    .venv/bin/python bench/baseline_loop.py DATABASE_URL WORKER_ID
"""

from __future__ import annotations

import sys

import psycopg

CLAIM = """
UPDATE video_jobs_videoanalysisjob
   SET status = 'processing', stage = 'downloading', worker_id = %s, attempts = attempts + 1,
       started_at = now(),
       lease_expires_at = now() + interval '60 seconds'
 WHERE id = (SELECT id FROM video_jobs_videoanalysisjob
              WHERE status = 'queued' AND run_after <= now()
              ORDER BY run_after, created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, attempts
"""
FINISH = """
UPDATE video_jobs_videoanalysisjob
   SET status = 'done', stage = 'done', progress = 100, finished_at = clock_timestamp(),
       lease_expires_at = NULL
 WHERE id = %s AND status = 'processing' AND worker_id = %s AND attempts = %s
"""


def main(url: str, worker_id: str) -> int:
    done = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(CLAIM, [worker_id]).fetchone()
            if row is None:
                return done
            conn.execute(FINISH, [row[0], worker_id, row[1]])
            done += 1


if __name__ == "__main__":
    print(main(sys.argv[1], sys.argv[2]))
