"""Analyzers that try what an exploit in the decoder would try, from inside the analysis child: read a
secret, reach the database, leave a process behind, start processes without end. They report what they
managed in their result, and talk to the test through the control directory (``analyzers.CONTROL_DIR``)."""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import resource
import socket
import sys
import time
from pathlib import Path
from typing import Any

from video_jobs.analysis import Analysis, JobInfo, ProgressCallback

from .analyzers import CONTROL_DIR, RELEASE

# Written by the test: {"needles": [secret values], "database": [host, port]}.
TARGETS = "targets.json"
# Written by ``leave_a_process``: the pid and start time of the process it left behind.
LEFT_BEHIND = "left-behind"
_PR_GET_NO_NEW_PRIVS = 39


def _control() -> Path:
    return Path(os.environ[CONTROL_DIR])


def _everything_readable() -> dict[str, str]:
    """Every place a secret could be read from here: the environment, Django's settings, the settings
    module run afresh, and the environment of every process /proc lets this one read."""
    seen: dict[str, str] = {"os.environ": json.dumps(dict(os.environ))}
    try:
        from django.conf import settings

        seen["django.conf.settings"] = repr(
            [settings.SECRET_KEY, settings.DATABASES, getattr(settings, "AWS_S3_SECRET_ACCESS_KEY", "")]
        )
    except Exception as exc:  # ImproperlyConfigured: no settings at all
        seen["django.conf.settings"] = f"{type(exc).__name__}: {exc}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cricksy.settings")
    try:
        module = importlib.import_module("cricksy.settings")
        seen["cricksy.settings"] = repr([module.SECRET_KEY, module.DATABASES])
    except Exception as exc:  # it refuses to load without DJANGO_SECRET_KEY
        seen["cricksy.settings"] = f"{type(exc).__name__}: {exc}"
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                seen[f"/proc/{entry}/environ"] = Path(f"/proc/{entry}/environ").read_bytes().decode("latin-1")
    return seen


def _reaches(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def pry(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
    """Look for the test's secret values everywhere, and try to connect to the database server."""
    targets = json.loads((_control() / TARGETS).read_text())
    seen = _everything_readable()
    found = sorted(
        f"{needle[:6]}... in {where}"
        for where, text in seen.items()
        for needle in targets["needles"]
        if needle in text
    )
    host, port = targets["database"]
    return Analysis(
        result={
            "found": found,
            "looked_in": len(seen),
            "own_environment_read": f"/proc/{os.getpid()}/environ" in seen,
            "database_reached": _reaches(host, port),
        }
    )


def _start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def leave_a_process(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
    """Leave a process that escapes the child's process group and parentage (a double fork and setsid),
    record it, then answer, or hang when the upload says ``sleep`` (out of its own process group as well when
    it says ``regroup``), or hold until released when it says ``hold``."""
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write_end, str(os.getpid()).encode())
            while True:
                time.sleep(3600)
        os._exit(0)
    os.close(write_end)
    os.waitpid(middle, 0)
    pid = int(os.read(read_end, 32))
    (_control() / LEFT_BEHIND).write_text(f"{pid} {_start_time(pid)}")
    command = path.read_bytes()[:7]
    if command == b"regroup":
        os.setpgid(0, os.getpgid(os.getppid()))  # out of its own group, into the server's
        command = b"sleep"
    if command == b"sleep":
        while True:
            time.sleep(3600)
    if command == b"hold":
        while not (_control() / RELEASE).exists():
            progress(0.5)
            time.sleep(0.02)
    return Analysis(result={"left": pid})


def still_running(control: Path) -> bool:
    """Whether the process ``leave_a_process`` left behind still runs (the same one: pids are reused)."""
    pid, started = (control / LEFT_BEHIND).read_text().split()
    try:
        return _start_time(int(pid)) == started
    except (OSError, IndexError):
        return False


def report_limits(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
    """The child's limits, privileges and namespaces, as it sees them."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    limits = {
        name: resource.getrlimit(getattr(resource, f"RLIMIT_{name}"))[0]
        for name in ("AS", "CPU", "FSIZE", "CORE", "NPROC")
    }
    return Analysis(
        result={
            "limits": limits,
            "no_new_privs": prctl(_PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
            "namespaces": {name: os.readlink(f"/proc/self/ns/{name}") for name in ("user", "net")},
            "modules": sorted(
                name for name in sys.modules if name.startswith(("django.db", "cricksy.settings"))
            ),
        }
    )


def write_a_big_file(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
    """Write as many bytes to a file in the control directory as the upload names."""
    size = int(path.read_bytes())
    target = _control() / "big-file"
    with target.open("wb") as output:
        output.write(b"\0" * size)
    return Analysis(result={"written": size})


def start_processes(path: Path, *, job: JobInfo, progress: ProgressCallback) -> Analysis:
    """Fork until refused (each new process waits on a pipe and goes when it closes); count the forks."""
    read_end, write_end = os.pipe()
    started = 0
    refused: Any = None
    while started < 10_000:
        try:
            pid = os.fork()
        except OSError as exc:
            refused = exc.strerror
            break
        if pid == 0:
            os.close(write_end)
            os.read(read_end, 1)
            os._exit(0)
        started += 1
    os.close(write_end)
    return Analysis(result={"started": started, "refused": refused})
