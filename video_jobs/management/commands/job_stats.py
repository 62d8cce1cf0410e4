"""``python manage.py job_stats [--json]``: the queue's state from the command line.

The same numbers as the admin's summary and ``/metrics`` (``video_jobs.ops.stats``); they replace the old
runbook's monitoring SQL.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.timesince import timesince

from video_jobs.ops.stats import JobStats, job_stats


class Command(BaseCommand):
    help = "Jobs per status, stuck uploads, stale processing jobs and the oldest queued job's wait."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON object, for scripts")
        parser.add_argument(
            "--stuck-minutes",
            type=int,
            default=None,
            help="what counts as a stuck upload (default: VIDEO_JOBS_STUCK_UPLOAD_MINUTES)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        minutes = options["stuck_minutes"]
        if minutes is not None and minutes < 1:
            raise CommandError("--stuck-minutes must be at least 1", returncode=2)
        stats = job_stats(stuck_upload_minutes=minutes)
        if options["json"]:
            self.stdout.write(json.dumps(stats.as_dict(), indent=2))
        else:
            self.stdout.write(self._table(stats))

    @staticmethod
    def _table(stats: JobStats) -> str:
        rows = [*stats.by_status.items(), ("total", stats.total)]
        width = max(len(name) for name, _ in rows)
        lines = [f"{'status':<{width}}  {'jobs':>8}"]
        lines += [f"{name:<{width}}  {count:>8}" for name, count in rows]
        if stats.oldest_queued_at is None:
            oldest = "none queued"
        else:
            since = stats.oldest_queued_at.isoformat(timespec="seconds")
            oldest = f"{timesince(stats.oldest_queued_at, stats.generated_at)} (queued {since})"
        lines += [
            "",
            f"stuck uploads (awaiting_upload > {stats.stuck_upload_minutes} min): {stats.stuck_uploads}",
            f"stale processing (lease expired): {stats.stale_processing}",
            f"oldest queued job waiting: {oldest}",
        ]
        return "\n".join(lines)
