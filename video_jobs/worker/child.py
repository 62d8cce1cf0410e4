"""The analysis server and its children: the far side of ``sandbox.py``, and the wire between them.

The analysis server (``python -m cricksy.analysis_server``) is a fresh process each worker starts once,
confined (``confinement.py``) and with PyAV, numpy and the analyzer imported, but never Django's settings.
For every analysis the worker sends it a request and the write end of a pipe; the server forks a child,
reports its pid, watches it (killing it when the worker asks) and, once it ended, kills whatever the job
left running (the server is their subreaper) and reports how the child ended, with its peak memory. One
child per analysis: whatever an upload does to a child's memory or state dies with it, and a fork of the
warm server costs milliseconds. The server lives as long as its worker's end of the control socket: when
the worker stops or dies, however it dies, the server kills what runs and exits.

The child limits itself (``confinement.confine_child``, its own process group, death with the server), runs
the analyzer and writes frames to the pipe: a 4-byte length, then JSON (progress, log records, the
outcome), or the raw bytes of an artifact after the result that lists it. The worker reads them with
``FrameReader``, which bounds what it will hold, and never unpickles anything a child wrote: a child may be
running an exploit.
"""

from __future__ import annotations

import gc
import importlib
import json
import logging
import os
import pickle
import select
import signal
import socket
import time
import traceback
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ..analysis import Analysis, Analyzer, InvalidVideo, JobInfo, VideoLimitsExceeded, check_result_size
from . import confinement
from .housekeeping import die_with_parent

# A frame's length prefix, and the longest frame a worker accepts (an artifact's bytes are one frame).
_LENGTH_BYTES = 4
MAX_FRAME_BYTES = 16 * 2**20
# What a worker holds of one child's artifacts at most, all together.
MAX_ARTIFACT_BYTES = 16 * 2**20
# The longest JSON frame a worker parses (a result is at most 64 KiB): parsing is where a small frame
# becomes many Python objects.
MAX_MESSAGE_BYTES = 256 * 1024
# The longest request (a pickled job and analyzer: a few kilobytes) and control message.
MAX_CONTROL_BYTES = 1 * 2**20
# A child reports progress at most this often (seconds); the worker coalesces database writes anyway.
PROGRESS_EVERY = 0.1
# Log records and tracebacks are cut to this many characters.
MAX_TEXT = 8000

# How a child's outcome ends ("error" frames), mapped to exceptions by the worker.
ERROR_INVALID_VIDEO = "invalid_video"
ERROR_LIMITS = "video_limits_exceeded"
ERROR_OUT_OF_MEMORY = "out_of_memory"
ERROR_EXCEPTION = "exception"


class ProtocolError(Exception):
    """A child wrote something no well-behaved child writes."""


@dataclass(frozen=True)
class Request:
    """One analysis, as the worker sends it to the server (pickled: the server trusts its worker)."""

    analyzer: Analyzer
    path: Path
    job: JobInfo
    memory_bytes: int
    timeout: float


# --- the wire ----------------------------------------------------------------------------------------------


def _cause(exc: BaseException) -> str:
    """What a refusal was chained from (the decoder's own error, which names the file): staff's detail."""
    cause = exc.__cause__
    return f"{type(cause).__name__}: {cause}"[:MAX_TEXT] if cause is not None else ""


def send_control(control: socket.socket, **message: Any) -> None:
    control.send(json.dumps(message).encode())


def receive_control(control: socket.socket) -> dict[str, Any] | None:
    """One message from the other end of the control socket; None when it closed."""
    data = control.recv(MAX_CONTROL_BYTES)
    if not data:
        return None
    message: dict[str, Any] = json.loads(data)
    return message


class FrameReader:
    """Frames from the non-blocking read end of a child's pipe, with bounded memory: a frame longer than
    MAX_FRAME_BYTES is refused, whatever length the child claims, and one call reads at most a few
    megabytes however fast the child writes."""

    _CHUNK = 256 * 1024
    _CHUNKS_PER_CALL = 16

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self.closed = False
        self._buffer = bytearray()

    def read(self) -> list[bytes]:
        """The frames that arrived complete since the last call (``closed`` tells the end of the pipe)."""
        frames: list[bytes] = []
        for _ in range(self._CHUNKS_PER_CALL):
            try:
                chunk = os.read(self.fd, self._CHUNK)
            except BlockingIOError:
                break
            if not chunk:
                self.closed = True
                break
            self._buffer += chunk
            frames += self._complete_frames()
        return frames

    def _complete_frames(self) -> list[bytes]:
        frames = []
        while len(self._buffer) >= _LENGTH_BYTES:
            length = int.from_bytes(self._buffer[:_LENGTH_BYTES], "big")
            if length > MAX_FRAME_BYTES:
                raise ProtocolError(f"a frame of {length} bytes (at most {MAX_FRAME_BYTES})")
            end = _LENGTH_BYTES + length
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[_LENGTH_BYTES:end]))
            del self._buffer[:end]
        return frames


class _Pipe:
    """The child's end: blocking writes of whole frames."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._last_progress = 0.0

    def frame(self, payload: bytes) -> None:
        data = memoryview(len(payload).to_bytes(_LENGTH_BYTES, "big") + payload)
        while data:
            data = data[os.write(self.fd, data) :]

    def send(self, **message: Any) -> None:
        self.frame(json.dumps(message, allow_nan=False).encode())

    def progress(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_EVERY or fraction >= 1.0:
            self._last_progress = now
            self.send(progress=float(fraction))

    def result(self, analysis: Analysis) -> None:
        listed = [
            {"name": artifact.name, "content_type": artifact.content_type, "size": len(artifact.data)}
            for artifact in analysis.artifacts
        ]
        self.send(result=analysis.result, artifacts=listed)
        for artifact in analysis.artifacts:
            self.frame(artifact.data)


class _Forwarder(logging.Handler):
    """Sends the child's log records to the worker, which logs them as its own (with the job's context)."""

    def __init__(self, pipe: _Pipe) -> None:
        super().__init__()
        self.pipe = pipe

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.pipe.send(log=[record.levelno, record.name, self.format(record)[:MAX_TEXT]])
        except Exception:
            self.handleError(record)


# --- the server ---------------------------------------------------------------------------------------------


def import_analyzer(path: str) -> Analyzer:
    module, _, name = path.rpartition(".")
    analyzer: Analyzer = getattr(importlib.import_module(module), name)
    return analyzer


def serve(control_fd: int, parent_pid: int, analyzer: str, isolated: bool) -> None:
    """The analysis server's loop: one analysis at a time, until the worker closes the control socket (or
    dies: the kernel closes it then, and the server kills what runs before it exits). ``isolated``: whether
    it has its own namespaces, which it tells the worker with its first message."""
    if os.getppid() != parent_pid:
        return  # the worker died while this process started
    # The worker decides when an analysis ends. A terminal's Ctrl-C or a service manager's SIGTERM sent to
    # every process of the service must not kill a child whose worker is finishing the job gracefully.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Imported once here, not in every child, with whatever the analyzer asks to load ahead (its warm_up).
    warm_up = getattr(import_analyzer(analyzer), "warm_up", None)
    if callable(warm_up):
        warm_up()
    # Everything loaded so far lives as long as the server: keep it out of the garbage collector's passes,
    # which would otherwise touch (and so copy) those pages in every child.
    gc.freeze()
    server_pid = os.getpid()
    control = socket.socket(fileno=control_fd)
    send_control(control, ready=server_pid, isolated=isolated)
    while True:
        data, fds, _flags, _address = socket.recv_fds(control, MAX_CONTROL_BYTES, 1)
        if not data:
            return  # the worker stopped (or died)
        if len(fds) != 1:
            continue  # a kill that crossed its child's exit: nothing left to kill
        [channel] = fds
        pid = os.fork()
        if pid == 0:
            control.close()
            _child(data, channel, server_pid)
        os.close(channel)
        # Set here as well as in the child, so the worker's kill reaches the group from the first moment.
        os.setpgid(pid, pid)
        send_control(control, started=pid)
        code, peak = _watch(control, pid)
        if code is None:
            return
        send_control(control, exited=code, peak_rss_bytes=peak)


def _watch(control: socket.socket, pid: int) -> tuple[int | None, int]:
    """Wait for the child to end, killing it when the worker asks, then kill anything the job left running.
    Returns its exit code (negative: the signal that killed it) and peak RSS; code None when the worker went
    away."""
    pidfd = os.pidfd_open(pid)
    try:
        while True:
            ready, _, _ = select.select([control.fileno(), pidfd], [], [])
            if control.fileno() in ready:
                message = receive_control(control)
                # Only this process reaps the child, so its pid (and group) cannot have been reused yet. The
                # child itself too: it may have moved to another group. The sweep below gets the rest.
                with suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                if message is None:
                    os.waitpid(pid, 0)
                    return None, 0
            if pidfd in ready:
                _, status, usage = os.wait4(pid, 0)
                return os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024
    finally:
        os.close(pidfd)
        # What the child started, in its process group or not (setsid), came back to this subreaper.
        confinement.kill_descendants()


# --- a child ------------------------------------------------------------------------------------------------


def _child(data: bytes, channel: int, server_pid: int) -> NoReturn:
    """Run one analysis and write its outcome, then exit without running any cleanup inherited from the
    server."""
    code = 1
    try:
        os.setpgid(0, 0)
        die_with_parent(signal.SIGKILL, server_pid)
        pipe = _Pipe(channel)
        handler = _Forwarder(pipe)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logging.getLogger().handlers = [handler]
        _run(data, pipe)
        code = 0
    finally:
        os._exit(code)


def _run(data: bytes, pipe: _Pipe) -> None:
    try:
        request: Request = pickle.loads(data)
        confinement.confine_child(memory_bytes=request.memory_bytes, timeout=request.timeout)
        analysis = request.analyzer(request.path, job=request.job, progress=pipe.progress)
        if not isinstance(analysis, Analysis):
            raise TypeError(f"the analyzer returned {type(analysis).__name__}, not an Analysis")
        check_result_size(analysis.result)  # here, where it is the analyzer's bug and said so
        pipe.result(analysis)
    except InvalidVideo as exc:
        pipe.send(error=ERROR_INVALID_VIDEO, message=str(exc)[:MAX_TEXT], cause=_cause(exc))
    except VideoLimitsExceeded as exc:
        pipe.send(error=ERROR_LIMITS, message=str(exc)[:MAX_TEXT], cause=_cause(exc))
    except MemoryError:
        # The address-space limit: everything the analysis held is gone by now, so this small write fits.
        pipe.send(error=ERROR_OUT_OF_MEMORY)
    except Exception as exc:
        pipe.send(
            error=ERROR_EXCEPTION,
            message=f"{type(exc).__name__}: {exc}"[:MAX_TEXT],
            traceback="".join(traceback.format_exception(exc))[-MAX_TEXT:],
        )
