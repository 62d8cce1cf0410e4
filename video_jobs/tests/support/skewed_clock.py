"""``python -m video_jobs.tests.support.skewed_clock SECONDS COMMAND [ARG ...]``: ``manage.py COMMAND ARG
...`` in a process whose clock runs SECONDS fast (slow, when negative) and keeps ticking.

time-machine moves the wall clock that Python reads (``time.time``, ``datetime.now``, so Django's
``timezone.now``), as a machine whose clock is off would; the monotonic clock that times intervals is left
alone, as it is on such a machine. The database server's clock is not this process's to move.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta

import time_machine


def main(argv: list[str]) -> None:
    offset = timedelta(seconds=float(argv[0]))
    time_machine.travel(datetime.now(UTC) + offset, tick=True).start()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cricksy.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *argv[1:]])


if __name__ == "__main__":
    main(sys.argv[1:])
