"""What the long-running processes (``run_worker``, ``run_webhooks``) share: waking an idle loop
(``wakeup``: a self-pipe and a PostgreSQL LISTEN connection) and the signals that stop it. It imports no other
part of the app.
"""
