"""The worker (``manage.py run_worker``): claim a queued job, hold its lease, download, analyse, store the
result; and recover. One room per concern:

- ``loop``: the Worker: claim, run, sweep, and what a stop means to it (the loop that sleeps, reconnects and
  takes the signals is ``video_jobs.daemon``'s, shared with the webhook dispatcher);
- ``attempt``: one claimed attempt at a job and its pipeline (download, analyse, store, settle);
- ``sandbox``: analysis in a confined child process with a memory and a time limit, the worker's side;
- ``child``: the analysis server that forks those children, a child's side, and the frames between them;
- ``confinement``: what confines the analysis process (environment, namespaces, limits, the subreaper);
- ``heartbeat``: the thread that keeps the running attempt's lease;
- ``housekeeping``: the worker's name, its temporary downloads and those killed workers left, log context;
- ``supervisor``: ``--concurrency N``, worker processes under one parent.

Every module logs as ``video_jobs.worker`` (``logging.getLogger(__package__)``): the one name operators'
logging configuration and log searches need, whichever room a line comes from.

This ``__init__`` imports nothing: the analysis server imports ``child`` and ``confinement`` without Django
set up, so import the rooms themselves (``from video_jobs.worker.loop import Worker``).
"""
