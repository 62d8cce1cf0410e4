"""``python manage.py run_webhooks``: send webhook deliveries (see docs/webhooks.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from video_jobs.management.options import positive_float, positive_int
from video_jobs.webhooks.dispatcher import Dispatcher


class Command(BaseCommand):
    help = "Send due webhook deliveries, signed, until SIGTERM/SIGINT (or, with --burst, until none is due)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            help=f"deliveries in flight at once, at most one per endpoint (default "
            f"VIDEO_JOBS_WEBHOOK_CONCURRENCY, {settings.VIDEO_JOBS_WEBHOOK_CONCURRENCY})",
        )
        parser.add_argument(
            "--burst", action="store_true", help="exit once nothing is due and nothing in flight"
        )
        parser.add_argument(
            "--poll-interval",
            type=positive_float,
            help=f"seconds between polls when idle (default VIDEO_JOBS_POLL_INTERVAL, "
            f"{settings.VIDEO_JOBS_POLL_INTERVAL}); PostgreSQL NOTIFY wakes it sooner",
        )
        parser.add_argument(
            "--no-listen", action="store_true", help="poll only, without PostgreSQL LISTEN/NOTIFY"
        )
        parser.add_argument("--dispatcher-id", help="name shown in the logs (default host:pid)")

    def handle(self, *args: Any, **options: Any) -> None:
        code = Dispatcher(
            dispatcher_id=options["dispatcher_id"],
            concurrency=options["concurrency"],
            poll_interval=options["poll_interval"],
            burst=options["burst"],
            listen=not options["no_listen"],
        ).run()
        if code:
            raise SystemExit(code)
