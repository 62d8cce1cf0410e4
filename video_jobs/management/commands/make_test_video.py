"""``python manage.py make_test_video PATH``: write a real video (PyAV) with bursts of motion to analyse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from video_jobs.devtools.synthetic_video import burst_windows, write_test_video


class Command(BaseCommand):
    help = "Write a test video: a still field where a player crosses the frame in bursts of motion."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="output file; .mp4, .mov, .mkv, .webm or .avi")
        parser.add_argument("--seconds", type=float, default=12.0, help="length (default 12)")
        parser.add_argument("--width", type=int, default=320, help="even, at least 16 (default 320)")
        parser.add_argument("--height", type=int, default=180, help="even, at least 16 (default 180)")
        parser.add_argument("--fps", type=int, default=25, help="frames per second (default 25)")
        parser.add_argument(
            "--grain",
            type=int,
            default=0,
            help="per-frame sensor noise, 0-255: makes a large file (default 0)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["seconds"] <= 0 or options["fps"] < 1:
            raise CommandError("--seconds and --fps must be positive")
        try:
            path = write_test_video(
                options["path"],
                seconds=options["seconds"],
                width=options["width"],
                height=options["height"],
                fps=options["fps"],
                grain=options["grain"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        bursts = ", ".join(f"{start:g}-{end:g}s" for start, end in burst_windows(options["seconds"]))
        self.stdout.write(f"wrote {path} ({path.stat().st_size} bytes); motion bursts at {bursts or 'none'}")
