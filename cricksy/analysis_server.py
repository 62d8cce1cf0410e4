"""Entry point of a worker's analysis server: ``python -m cricksy.analysis_server CONTROL_FD WORKER_PID``.

Each worker starts one (``video_jobs/worker/sandbox.py``), as a web server starts from ``wsgi.py``. Django is
set up and PyAV, numpy and the analyzer are imported here once, so that the child forked for each analysis
starts in milliseconds instead of the second a fresh interpreter takes. The loop itself is in
``video_jobs/worker/child.py``.
"""

import os
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cricksy.settings")
    django.setup(set_prefix=False)
    from video_jobs.worker import child

    child.serve(control_fd=int(sys.argv[1]), parent_pid=int(sys.argv[2]))


if __name__ == "__main__":
    main()
