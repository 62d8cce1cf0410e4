"""The command-line client: upload a video (in parallel, resumable parts above the server's threshold),
then optionally follow its analysis to the end.

    python -m video_jobs.client upload PATH --server URL --token TOKEN [--wait] [--json] [--parallel N]

It talks to the API over HTTP and to S3 through the presigned URLs the API hands out, nothing else: no
Django, no database, no server settings are imported here (a test checks), so it runs anywhere Python,
``requests`` and ``rich`` are installed.
"""
