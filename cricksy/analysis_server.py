"""Entry point of a worker's analysis server: ``python -m cricksy.analysis_server CONTROL_FD WORKER_PID``.

Each worker starts one (``video_jobs/worker/sandbox.py``) as a fresh interpreter, never a fork of itself,
with a short environment and the analysis settings in ``CRICKSY_ANALYSIS_CONFIG``. It confines itself before
it imports anything (``video_jobs/worker/confinement.py``), then imports PyAV, numpy and the analyzer once,
so that the child forked for each analysis starts in milliseconds. It never sets Django up: it has no
settings, no secret key, no database and no S3 credentials to give away. The loop itself is in
``video_jobs/worker/child.py``.
"""

import os
import sys


def main() -> None:
    from video_jobs.worker import confinement

    isolated = confinement.confine_server()

    from video_jobs.analysis import config

    settings = config.AnalysisConfig.from_json(os.environ[config.ENVIRONMENT_VARIABLE])
    config.install(settings)

    from video_jobs.worker import child

    control_fd, worker_pid = int(sys.argv[1]), int(sys.argv[2])
    child.serve(control_fd=control_fd, parent_pid=worker_pid, analyzer=settings.analyzer, isolated=isolated)


if __name__ == "__main__":
    main()
