"""``manage.py upload_video PATH --server URL --token TOKEN [--wait] ...``: the command-line client
(``python -m video_jobs.client upload``) for those used to manage.py. It takes the same arguments and exit
codes, and reads nothing of this server's settings or database: it talks to whichever server is named."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from video_jobs.client.cli import main


class Command(BaseCommand):
    help = "Upload a video with the command-line client (see python -m video_jobs.client upload --help)."

    def run_from_argv(self, argv: list[str]) -> None:
        # The client parses its own arguments: argv is [manage.py, upload_video, ...].
        sys.exit(main(["upload", *argv[2:]]))

    def handle(self, *args: Any, **options: Any) -> None:
        raise NotImplementedError("run from the command line: manage.py upload_video PATH ...")
