"""What the long-running processes (``run_worker``, ``run_webhooks``) share: the loop they run (``skeleton``:
passes of their own work, sleeps, reconnects after a database error, metrics, the signals that stop it) and
what wakes it (``wakeup``: a self-pipe and a PostgreSQL LISTEN connection). It imports only the database
vendor check (``video_jobs.db``) and the metrics buffer (``video_jobs.ops``) from the rest of the app.
"""
