"""What confines the analysis process, which parses hostile bytes: its environment, its namespaces, its
resource limits, and the sweep that kills every process a job started. Linux only; imports no Django (the
analysis server imports it before anything else).

- Environment: the server is a fresh interpreter (never a fork of the configured worker) whose environment
  is built here from a short list: no credential, no Django secret, no database URL ever reaches it.
- Namespaces: when the kernel lets it, the server moves itself into a new user namespace (it keeps its user
  id on files, and has no capability outside the namespace) and a new network namespace (no network at all:
  no database, no S3, no cloud metadata endpoint). Then RLIMIT_NPROC counts only the processes of that
  namespace, so it bounds what one worker's analyses may start, whichever user runs the worker (root's
  processes are otherwise exempt, and a normal user's count holds all their processes). Where user
  namespaces are refused, the limit is the user's current count plus the same margin (not enforced for
  root), and the network stays reachable: docs/analysis.md says so.
- Limits: no new privileges (setuid programs do not raise them), and in each child an address-space limit
  (the memory limit), CPU seconds, the size of a file it may write, and no core dumps.
- The server is a child subreaper: a process a job started that leaves its parent (double fork, setsid)
  comes back to the server, which kills and reaps every one of them when the job ends, however it ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import resource
import signal
from collections.abc import Iterable

# prctl(2) options and clone(2) flags.
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000

# What the server's environment keeps of the worker's: the interpreter's search paths, the locale, the
# clock's zone and where temporary files go. Everything else (AWS_*, DJANGO_*, DATABASE_URL, ...) stays.
PASSED_VARIABLES = (
    "PATH",
    "PYTHONPATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_NUMERIC",
    "TZ",
    "TMPDIR",
)
# numpy's BLAS threads are useless on 64-pixel thumbnails, and each costs the child's address space
# (RLIMIT_AS); two malloc arenas keep the decoder threads from reserving 64 MiB each.
FIXED_VARIABLES = {"OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}

# Tasks (processes and threads) the analyses of one worker may have at once: a decoder's threads, a
# model's thread pool and a few helpers fit many times over; a fork bomb does not.
MAX_TASKS = 256
# No analysis writes files; a library's cache fits, a disk filled one write at a time does not.
MAX_FILE_BYTES = 16 * 2**20


def server_environment(config_json: str, *, passed: Iterable[str] = ()) -> dict[str, str]:
    """The analysis server's whole environment: the variables above, those named in ``passed``
    (VIDEO_JOBS_ANALYSIS_PASS_ENV, for an analyzer that needs one), and the analysis settings."""
    from ..analysis.config import ENVIRONMENT_VARIABLE

    names = (*PASSED_VARIABLES, *passed)
    environment = {name: os.environ[name] for name in names if name in os.environ}
    return {**environment, **FIXED_VARIABLES, ENVIRONMENT_VARIABLE: config_json}


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    if _libc().prctl(option, value, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl({option}): {os.strerror(error)}")


def make_undumpable() -> None:
    """For the worker, whose memory and environment hold the secrets: a process of the same user (an
    analysis child, say) can then read neither its /proc/<pid>/environ nor its memory."""
    _prctl(_PR_SET_DUMPABLE, 0)


def _own_namespaces() -> bool:
    """Move this (single-threaded) process into a new user and network namespace; False when refused."""
    return bool(_libc().unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0)


def _tasks_of(uid: int) -> int:
    """Tasks (threads included: RLIMIT_NPROC counts them) that ``uid`` has now."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
    return count


def confine_server() -> bool:
    """Confine the analysis server before it imports anything: namespaces, no new privileges, the task
    limit, and the subreaper. Returns whether it has its own namespaces."""
    isolated = _own_namespaces()
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    # Set after the unshare: the namespace keeps the limit its creator had for the count outside it.
    if isolated:
        tasks = MAX_TASKS
    elif os.getuid() != 0:
        tasks = _tasks_of(os.getuid()) + MAX_TASKS
    else:
        tasks = resource.RLIM_INFINITY  # root outside a namespace is exempt: say nothing we do not enforce
    if tasks != resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))
    return isolated


def confine_child(*, memory_bytes: int, timeout: float) -> None:
    """The limits of one analysis child (inherited by whatever it starts). CPU seconds: all the machine's
    cores for the whole time limit, a backstop for a process the kill did not reach."""
    cpu_seconds = math.ceil(timeout * (os.cpu_count() or 1)) + 1
    for limit, value in (
        (resource.RLIMIT_AS, memory_bytes),
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_FSIZE, MAX_FILE_BYTES),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(limit, (value, value))


def _children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (zombies included), read from /proc/<pid>/stat."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                # "pid (name) state ppid ...": the name may hold spaces and parentheses.
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == parent:
            found.append(int(entry))
    return found


def kill_descendants() -> int:
    """Kill and reap every process below this one, a subreaper; returns how many were reaped.

    A process whose parent dies comes to this one before that parent can be reaped, so listing the children
    again after each reap finds every one; with no child left (ECHILD) nothing below is left either.
    """
    me = os.getpid()
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid:
            reaped += 1
            continue
        for child in _children(me):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return reaped
        reaped += 1
