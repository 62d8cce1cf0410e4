"""Process housekeeping: the worker's name, its temporary downloads (and those killed workers left behind),
the job each log line is about, and child processes that die with their parent."""

from __future__ import annotations

import contextvars
import ctypes
import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

logger = logging.getLogger(__package__)

_PR_SET_PDEATHSIG = 1

LOG_FORMAT = "%(asctime)s %(levelname)s [%(worker_id)s job=%(job_id)s] %(name)s: %(message)s"

_current_job: contextvars.ContextVar[str] = contextvars.ContextVar("video_jobs_current_job", default="-")

# Downloads are named cricksy-<pid>-<job>-<random>.video, so that one left by a killed worker can be told
# from one a live worker on the same machine is still using.
_DOWNLOAD_PREFIX = "cricksy-"
_DOWNLOAD_SUFFIX = ".video"
# Linux's largest pid (PID_MAX_LIMIT, 2**22): above it os.kill would refuse the number itself.
_PID_MAX = 2**22


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobContextFilter(logging.Filter):
    """Stamps every log record with the worker id and the job its thread is working on ("-" if none)."""

    def __init__(self, worker_id: str) -> None:
        super().__init__()
        self.worker_id = worker_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker_id = self.worker_id
        record.job_id = _current_job.get()
        return True


@contextmanager
def logging_job(job_id: object) -> Iterator[None]:
    """Inside the block, this thread's log records are about job ``job_id`` (see JobContextFilter)."""
    token = _current_job.set(str(job_id))
    try:
        yield
    finally:
        _current_job.reset(token)


def die_with_parent(signum: int, parent_pid: int | None = None) -> None:
    """Linux: have the kernel send ``signum`` to this process when its parent dies, even by SIGKILL. Given
    the parent's pid, a parent that died before this call is caught too: the process exits at once."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def temporary_download(job_id: object) -> IO[bytes]:
    """A temporary file for a job's video, deleted when closed; named so remove_orphaned_downloads can tell
    whose it is."""
    prefix = f"{_DOWNLOAD_PREFIX}{os.getpid()}-{job_id}-"
    return tempfile.NamedTemporaryFile(prefix=prefix, suffix=_DOWNLOAD_SUFFIX)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_orphaned_downloads(folder: str | None = None) -> int:
    """Delete downloads left in the temporary folder by workers that no longer run (a SIGKILL or an OOM
    kill skips every cleanup). Returns how many bytes were freed. A file whose process still runs, or whose
    pid was reused, is kept."""
    freed = 0
    for path in Path(folder or tempfile.gettempdir()).glob(f"{_DOWNLOAD_PREFIX}*{_DOWNLOAD_SUFFIX}"):
        pid = path.name[len(_DOWNLOAD_PREFIX) :].split("-", 1)[0]
        # Anyone may plant a file here: only ASCII digits of a pid the kernel could have given are read.
        if re.fullmatch(r"[1-9][0-9]{0,9}", pid) is None or int(pid) > _PID_MAX or _process_alive(int(pid)):
            continue
        with suppress(OSError):
            size = path.stat().st_size
            path.unlink()
            freed += size
            logger.info("removed %s (%s bytes), left by stopped process %s", path.name, size, pid)
    return freed
