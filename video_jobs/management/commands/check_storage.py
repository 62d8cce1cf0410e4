"""``manage.py check_storage``: probe the configured bucket and say, in plain words, what holds and what does
not (``video_jobs.s3.checkup``). Exits 0 only when the service can work with it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from video_jobs.s3 import checkup, storage


class Command(BaseCommand):
    help = (
        "Check the configured S3 bucket: access, CORS, what the store refuses, lifecycle. Exit 0 if usable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            help="a browser origin that uploads to the bucket (the coaches' page's own, e.g. "
            "https://cricksy.example); repeatable. Default: VIDEO_JOBS_CORS_ALLOWED_ORIGINS",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        origins = options["origin"] or list(settings.CORS_ALLOWED_ORIGINS)
        where = settings.AWS_S3_ENDPOINT_URL or "AWS S3"
        self.stdout.write(
            f"Checking s3://{storage.bucket_name()} at {where} (region {settings.AWS_S3_REGION_NAME})"
        )
        failures = 0
        for finding in checkup.check(origins=origins):
            failures += finding.level == checkup.Level.FAILURE
            style = {
                checkup.Level.OK: self.style.SUCCESS,
                checkup.Level.WARNING: self.style.WARNING,
                checkup.Level.FAILURE: self.style.ERROR,
            }[finding.level]
            self.stdout.write(f"  {style(f'{finding.level:<8}')}{finding.text}")
            for line in finding.fix.splitlines():
                self.stdout.write(f"            {line}")
        if failures:
            raise CommandError(
                f"the service cannot work with this bucket as it is: {failures} problem(s) above"
            )
        self.stdout.write("The service can work with this bucket.")
