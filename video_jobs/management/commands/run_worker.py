"""``python manage.py run_worker``: process queued video jobs (see docs/operations.md, Running workers)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from video_jobs.management.options import positive_float, positive_int
from video_jobs.worker import confinement
from video_jobs.worker.housekeeping import LOG_FORMAT, JobContextFilter, default_worker_id
from video_jobs.worker.loop import Worker
from video_jobs.worker.supervisor import Supervisor


class Command(BaseCommand):
    help = (
        "Claim queued video jobs and analyse them, until SIGTERM/SIGINT (or, with --burst, an empty queue)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            default=1,
            help="worker processes to run under one supervisor (default 1: this process works itself)",
        )
        parser.add_argument(
            "--burst", action="store_true", help="exit once nothing is claimable (for scripts and tests)"
        )
        parser.add_argument(
            "--max-jobs", type=positive_int, help="exit after processing this many jobs (per process)"
        )
        parser.add_argument(
            "--poll-interval",
            type=positive_float,
            help=f"seconds between polls when idle (default VIDEO_JOBS_POLL_INTERVAL, "
            f"{settings.VIDEO_JOBS_POLL_INTERVAL}); PostgreSQL NOTIFY wakes a worker sooner",
        )
        parser.add_argument(
            "--no-listen",
            action="store_true",
            help="poll only, without PostgreSQL LISTEN/NOTIFY (e.g. behind a transaction-pooling "
            "PgBouncer, which cannot LISTEN)",
        )
        parser.add_argument(
            "--worker-id",
            help="name recorded on claimed jobs and in every log line; must be unique "
            "(default host:pid; with --concurrency N the children are ID-1 .. ID-N)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        worker_id = options["worker_id"] or default_worker_id()
        handler = logging.StreamHandler()
        handler.addFilter(JobContextFilter(worker_id))
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger().handlers = [handler]
        # This process's environment holds the secrets its analysis children are started without (a
        # supervisor's as much as a worker's): no process of the same user may read them from /proc.
        confinement.make_undumpable()

        if options["concurrency"] > 1:
            child_args = ["--burst"] if options["burst"] else []
            if options["no_listen"]:
                child_args.append("--no-listen")
            for option in ("max_jobs", "poll_interval"):
                if options[option] is not None:
                    child_args += [f"--{option.replace('_', '-')}", str(options[option])]
            code = Supervisor(
                concurrency=options["concurrency"], worker_id=worker_id, child_args=child_args
            ).run()
        else:
            code = Worker(
                worker_id=worker_id,
                poll_interval=options["poll_interval"],
                burst=options["burst"],
                max_jobs=options["max_jobs"],
                listen=not options["no_listen"],
            ).run()
        if code:
            raise SystemExit(code)
