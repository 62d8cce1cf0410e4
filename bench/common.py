"""Shared set-up for the benchmarks: a PostgreSQL database of their own, an S3 (moto's server, or SeaweedFS),
figures.

Benchmarks are scripts, not tests: they print what they measured and the command that reproduces it,
and merge their figures into bench/results/latest.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/cricksy_bench"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)


def ensure_database(url: str) -> None:
    """Create the benchmark database if it does not exist (connecting to the server's ``postgres``)."""
    import psycopg
    from psycopg import sql

    info = psycopg.conninfo.conninfo_to_dict(url)
    name = info.pop("dbname")
    with psycopg.connect(**{**info, "dbname": "postgres"}, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# The credentials of the S3 the benchmark runs against (moto accepts any; SeaweedFS makes its own).
_S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# The S3 stores a benchmark can run against (s3_store).
STORES = ("moto", "seaweedfs")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of every process a benchmark starts (workers, gunicorn)."""
    env = dict(os.environ)
    # Children log as the service does by default (INFO): a log line per job is part of its cost.
    env.pop("LOG_LEVEL", None)
    env.update(
        DATABASE_URL=database_url(),
        **_S3_KEYS,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-only-secret-key-not-for-production-use",
        # One user sends a thousand initiates (api_latency): quotas and rates far above that, still checked.
        VIDEO_JOBS_MAX_PENDING_UPLOADS="1000000",
        VIDEO_JOBS_MAX_ACTIVE_JOBS="1000000",
        VIDEO_JOBS_THROTTLE_RATE="1000000/second",
        VIDEO_JOBS_THROTTLE_INITIATE_RATE="1000000/second",
    )
    env.update(extra)
    return env


def start_worker(*args: str, log: str, **env: str) -> subprocess.Popen[bytes]:
    """``manage.py run_worker ARGS`` in the benchmark's environment (plus ``env``). Its log, at the
    service's default level, goes to bench/results/LOG.log rather than into the table."""
    with (RESULTS.parent / f"{log}.log").open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", *args], cwd=ROOT, env=child_env(**env), stderr=handle
        )


def setup_django(**extra_env: str) -> None:
    """Point this process at the benchmark database, migrate it, and start Django."""
    ensure_database(database_url())
    os.environ.update(child_env(**extra_env))
    os.environ["LOG_LEVEL"] = "WARNING"  # the benchmark's own process: its table, not the service's log
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cricksy.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def truncate_jobs() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        # CASCADE: webhook deliveries refer to their jobs.
        cursor.execute("TRUNCATE video_jobs_videoanalysisjob CASCADE")


def bench_user() -> Any:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench")
    return user


# Fast bulk rows for the queue benchmarks: one INSERT ... SELECT, far quicker than the ORM for 10^6 rows.
_BULK_INSERT = """
INSERT INTO video_jobs_videoanalysisjob (
    id, owner_id, status, stage, progress, s3_bucket, s3_key, filename, content_type, size_bytes, sha256,
    object_etag, object_size, verified_at, attempts, max_attempts, run_after, worker_id, error_code,
    error_message, created_at, updated_at, upload_deadline, queued_at, finished_at, result)
SELECT u.id, %(owner)s, %(status)s, %(status)s, %(progress)s, %(bucket)s, 'videos/' || u.id || '/source',
       'bench.mp4', 'video/mp4', %(size)s, '', %(etag)s, %(size)s, now(), 0, 3,
       now() - interval '1 hour' + u.g * interval '1 microsecond', '', '', '',
       now() - interval '1 hour' + u.g * interval '1 microsecond', now(), now() + interval '1 day',
       now(), NULL, NULL
  FROM (SELECT gen_random_uuid() AS id, g FROM generate_series(1, %(count)s) AS g) AS u
"""


def bulk_jobs(*, count: int, status: str, size: int = 1000, etag: str = '""') -> None:
    """Insert ``count`` verified jobs in ``status`` (queued jobs are claimable at once, oldest first)."""
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            _BULK_INSERT,
            {
                "owner": bench_user().pk,
                "status": status,
                "progress": 100 if status == "done" else 0,
                "bucket": settings.AWS_STORAGE_BUCKET_NAME,
                "size": size,
                "etag": etag,
                "count": count,
            },
        )
        cursor.execute("ANALYZE video_jobs_videoanalysisjob")


@contextmanager
def s3_store(name: str = "moto") -> Iterator[str]:
    """An S3 on free ports, its bucket created, for this process and the ones it starts (``child_env``):
    moto's server (lenient, objects in its memory) or SeaweedFS (a real store, objects on disk in a
    temporary folder). Yields the endpoint."""
    import tempfile

    from django.test import override_settings

    from video_jobs.s3 import bucket_setup
    from video_jobs.s3.embedded import MotoServer
    from video_jobs.s3.seaweedfs import SeaweedFS

    with tempfile.TemporaryDirectory(prefix="bench-s3-") as folder:
        server: MotoServer | SeaweedFS
        if name == "seaweedfs":
            server = SeaweedFS(Path(folder)).start()
            keys = {"AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key}
        else:
            server = MotoServer().start()
            keys = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        before = dict(_S3_KEYS)
        _S3_KEYS.update(keys)
        os.environ.update(keys, AWS_S3_ENDPOINT_URL=server.endpoint)
        settings = {
            "AWS_S3_ENDPOINT_URL": server.endpoint,
            "AWS_S3_ACCESS_KEY_ID": keys["AWS_ACCESS_KEY_ID"],
            "AWS_S3_SECRET_ACCESS_KEY": keys["AWS_SECRET_ACCESS_KEY"],
        }
        try:
            with override_settings(**settings):
                bucket_setup.ensure_bucket()
                yield server.endpoint
        finally:
            server.stop()
            _S3_KEYS.update(before)
            os.environ.update(before)


def moto_s3() -> Any:
    """moto's S3 server on a free port, its bucket created; yields the endpoint (``s3_store``)."""
    return s3_store("moto")


def wait_for_listeners(worker_id_prefix: str, count: int, timeout: float = 60) -> None:
    """Wait until ``count`` workers whose ids start with the prefix LISTEN for queued jobs (so a NOTIFY
    sent next reaches them all)."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s",
                [f"video_jobs listen {worker_id_prefix}%"],
            )
            if cursor.fetchone()[0] >= count:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} worker(s) {worker_id_prefix}* did not start listening")
        time.sleep(0.05)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds of samples given in seconds."""
    return {
        "p50_ms": round(percentile(samples, 50) * 1000, 3),
        "p95_ms": round(percentile(samples, 95) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
        "mean_ms": round(statistics.fmean(samples) * 1000, 3) if samples else float("nan"),
        "n": len(samples),
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "postgres_client": pg,
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def save(name: str, figures: dict[str, Any], *, command: str) -> None:
    """Print the figures and merge them into the results file under ``name``."""
    print(json.dumps({name: figures}, indent=2))
    print(f"reproduce: {command}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text())
    results[name] = {"figures": figures, "command": command, "machine": machine()}
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
