"""The command-line client: upload a video (in parallel, resumable parts above the server's threshold),
then optionally follow its analysis to the end; or look at a job.

    cricksy-upload upload PATH --server URL --token TOKEN [--wait] [--json] [--parallel N] [--new]
    cricksy-upload status JOB --server URL --token TOKEN [--wait] [--json]

It talks to the API over HTTP and to S3 through the presigned URLs the API hands out, nothing else: no
Django, no database, no server settings are imported here (a test checks), so it runs anywhere Python,
``requests`` and ``rich`` are installed. ``pyproject.toml`` here makes it a package of its own
(``pip install ./video_jobs/client``, the ``cricksy-upload`` command), which needs nothing of the server's;
from a checkout it also runs as ``python -m video_jobs.client``. Its modules import each other relatively,
so the one source serves both names.
"""
