"""Analysis in a confined child process, with a memory and a time limit: the worker's side of ``child.py``.

Each worker starts one analysis server (``python -m cricksy.analysis_server``): a fresh interpreter with the
environment ``confinement.server_environment`` builds (no secret in it) and the analysis settings, which
forks a child per analysis. ``Sandbox.run`` sends the server the analyzer, the downloaded file and the job,
then follows the child: it relays its progress and log records, checks between them that the job is still
this worker's (``check`` raises JobInterrupted when the lease is lost or a shutdown's grace ran out), and
kills the child then, or when VIDEO_JOBS_ANALYSIS_TIMEOUT passes. The heartbeat thread keeps the lease
meanwhile. However the child ends (a result, an error, a hang, a crash, the memory limit), the worker
process lives on and takes its next job. Linux only (pidfd, prctl, rlimits, namespaces).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from django.conf import settings

from ..analysis import (
    Analysis,
    Analyzer,
    Artifact,
    InvalidVideo,
    JobInfo,
    ProgressCallback,
    VideoLimitsExceeded,
)
from ..analysis.config import AnalysisConfig
from . import confinement
from .child import (
    ERROR_INVALID_VIDEO,
    ERROR_LIMITS,
    ERROR_OUT_OF_MEMORY,
    MAX_ARTIFACT_BYTES,
    MAX_MESSAGE_BYTES,
    FrameReader,
    ProtocolError,
    Request,
    receive_control,
    send_control,
)

logger = logging.getLogger(__package__)

# Seconds between two looks at the job's lease while a child runs (the heartbeat renews it on its thread).
TICK = 0.25
# Seconds the server may take to start (a cold interpreter importing Django, PyAV and numpy), and to
# confirm that it killed a child before it is killed itself.
SERVER_START_TIMEOUT = 120.0
KILL_TIMEOUT = 10.0


class AnalysisTimeout(Exception):
    """The analysis ran longer than VIDEO_JOBS_ANALYSIS_TIMEOUT and its child was killed."""


class AnalysisCrashed(Exception):
    """The child died without an outcome (a signal, the memory limit, a non-zero exit), wrote something no
    child should, or the analysis server itself failed."""


class ChildCause(Exception):
    """The error a refusal in the analysis child was chained from, as the child described it."""


class AnalyzerError(Exception):
    """The analyzer raised an exception in the child: its type and message, and its traceback as text."""

    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.details = details


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class _Server:
    """One analysis server process and the worker's end of its control socket."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cricksy.analysis_server", str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()],
                cwd=settings.BASE_DIR,
                env=environment,
                # Out of the terminal's process group: Ctrl-C is the worker's to handle.
                start_new_session=True,
            )
        finally:
            theirs.close()
        ready = self.expect("ready", SERVER_START_TIMEOUT)
        if ready.get("isolated"):
            logger.debug("analysis server started (pid %s), in its own namespaces", self.process.pid)
        else:
            logger.warning(
                "analysis server started (pid %s) without its own user and network namespaces (the kernel "
                "refused them): analyses can reach the network (docs/analysis.md, limits)",
                self.process.pid,
            )

    def expect(self, key: str, timeout: float) -> dict[str, Any]:
        ready, _, _ = select.select([self.control], [], [], timeout)
        message = receive_control(self.control) if ready else None
        if message is None or key not in message:
            code = self.process.poll()
            state = "did not answer" if code is None else describe_exit(code)
            raise AnalysisCrashed(f"the analysis server {state}")
        return message

    def close(self) -> None:
        """Close the control socket, which stops the server (and kills a child it still runs)."""
        self.control.close()
        try:
            self.process.wait(timeout=KILL_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _Outcome:
    """What a child wrote as its outcome: a result (and the artifacts it lists, a frame each) or an error."""

    def __init__(self) -> None:
        self.message: dict[str, Any] | None = None
        self.listed: list[dict[str, Any]] = []
        self.artifacts: list[Artifact] = []

    def take(self, message: dict[str, Any]) -> None:
        if self.message is not None:
            raise ProtocolError("a second outcome")
        if "result" in message:
            if not isinstance(message["result"], dict):
                raise ProtocolError("a result that is not an object")
            self.listed = list(message["artifacts"])
            if sum(int(item["size"]) for item in self.listed) > MAX_ARTIFACT_BYTES:
                raise ProtocolError(f"artifacts over {MAX_ARTIFACT_BYTES} bytes")
        self.message = message

    @property
    def awaits_artifact(self) -> bool:
        return len(self.artifacts) < len(self.listed)

    def artifact(self, data: bytes) -> None:
        item = self.listed[len(self.artifacts)]
        if len(data) != item["size"]:
            raise ProtocolError("an artifact of another size than listed")
        self.artifacts.append(Artifact(str(item["name"]), data, str(item["content_type"])))

    def conclude(self, code: int, peak: int, memory_mb: int) -> Analysis:
        message = self.message
        peak_note = f"peak memory {peak / 2**20:.0f} MiB, limit {memory_mb} MiB"
        if message is None or self.awaits_artifact:
            raise AnalysisCrashed(f"the analysis crashed: its process {describe_exit(code)} ({peak_note})")
        error = message.get("error")
        if error is None:
            return Analysis(result=message["result"], artifacts=tuple(self.artifacts))
        cause = ChildCause(str(message["cause"])) if message.get("cause") else None
        if error == ERROR_INVALID_VIDEO:
            raise InvalidVideo(str(message["message"])) from cause
        if error == ERROR_LIMITS:
            raise VideoLimitsExceeded(str(message["message"])) from cause
        if error == ERROR_OUT_OF_MEMORY:
            raise AnalysisCrashed(f"the analysis ran out of memory ({peak_note})")
        raise AnalyzerError(str(message["message"]), str(message.get("traceback", "")))


class Sandbox:
    """Runs analyses in children of one analysis server, under a memory and a wall-clock limit.

    ``config``: the analysis settings the server gets (default: from Django's settings now); ``pass_env``:
    names of further environment variables it gets (VIDEO_JOBS_ANALYSIS_PASS_ENV)."""

    def __init__(
        self,
        *,
        memory_mb: int,
        timeout: float,
        config: AnalysisConfig | None = None,
        pass_env: tuple[str, ...] = (),
    ) -> None:
        self.memory_mb = memory_mb
        self.timeout = timeout
        self.config = config or AnalysisConfig.from_settings()
        self.pass_env = pass_env
        self._server: _Server | None = None

    def start(self) -> None:
        """Start the analysis server now, if it is not running: a worker does at start, so that its first
        job does not wait for it."""
        if self._server is not None and self._server.process.poll() is None:
            return
        self._discard_server()
        # This process holds the secrets the server is started without: a child running as the same user
        # must not read them from /proc/<worker>/environ or /proc/<worker>/mem instead.
        confinement.make_undumpable()
        self._server = _Server(confinement.server_environment(self.config.to_json(), passed=self.pass_env))

    def close(self) -> None:
        self._discard_server()

    def _discard_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

    def run(
        self,
        analyzer: Analyzer,
        path: Path,
        *,
        job: JobInfo,
        progress: ProgressCallback,
        check: Callable[[], None],
    ) -> Analysis:
        """Analyse ``path`` in a child; raises what the analyzer raised (InvalidVideo, VideoLimitsExceeded,
        AnalyzerError for anything else), AnalysisTimeout, AnalysisCrashed, or JobInterrupted from
        ``check`` or ``progress``."""
        try:
            request = pickle.dumps(Request(analyzer, path, job, self.memory_mb * 2**20, self.timeout))
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise TypeError(
                f"the analyzer {analyzer!r} cannot be sent to its child process ({exc}): "
                "give the dotted path of a module-level function"
            ) from exc
        read_fd, write_fd = os.pipe()
        try:
            try:
                server, pid = self._launch(request, write_fd)
            finally:
                os.close(write_fd)
            return self._follow(server, pid, FrameReader(read_fd), progress, check)
        finally:
            os.close(read_fd)

    def _launch(self, request: bytes, write_fd: int, *, retry: bool = True) -> tuple[_Server, int]:
        """Hand the request (and the pipe's write end) to the server; returns it and the child's pid. A
        server found dead on the way (it died between two jobs: the kernel's OOM killer, say) is replaced
        once: the job is not its fault."""
        self.start()
        assert self._server is not None
        server = self._server
        try:
            socket.send_fds(server.control, [request], [write_fd])
            return server, server.expect("started", KILL_TIMEOUT)["started"]
        except (AnalysisCrashed, OSError) as exc:
            self._discard_server()
            if not retry:
                raise AnalysisCrashed(f"the analysis server failed: {exc}") from exc
            logger.warning("analysis server gone (%s); starting another", exc)
            return self._launch(request, write_fd, retry=False)

    def _follow(
        self,
        server: _Server,
        pid: int,
        reader: FrameReader,
        progress: ProgressCallback,
        check: Callable[[], None],
    ) -> Analysis:
        started = time.monotonic()
        deadline = started + self.timeout
        outcome = _Outcome()
        ended: dict[str, Any] | None = None
        try:
            while ended is None:
                check()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AnalysisTimeout(f"the analysis took longer than {self.timeout:g} s and was stopped")
                control = server.control.fileno()
                watched = [control] if reader.closed else [control, reader.fd]
                ready, _, _ = select.select(watched, [], [], min(TICK, remaining))
                if reader.fd in ready:
                    self._take(reader.read(), outcome, progress)
                if control in ready:
                    ended = server.expect("exited", 0)
            # What the child wrote before it ended is all in the pipe now (it blocks on a full pipe).
            self._take(reader.read(), outcome, progress)
        except ProtocolError as exc:
            raise AnalysisCrashed(f"the analysis process wrote a malformed message ({exc})") from exc
        finally:
            if ended is None:
                ended = self._kill(server, pid)
            logger.debug(
                "analysis process %s %s after %.2fs, peak RSS %.0f MiB",
                pid,
                describe_exit(ended["exited"]),
                time.monotonic() - started,
                ended["peak_rss_bytes"] / 2**20,
            )
        return outcome.conclude(ended["exited"], ended["peak_rss_bytes"], self.memory_mb)

    def _take(self, frames: list[bytes], outcome: _Outcome, progress: ProgressCallback) -> None:
        for frame in frames:
            try:
                if outcome.awaits_artifact:
                    outcome.artifact(frame)
                    continue
                if len(frame) > MAX_MESSAGE_BYTES:
                    raise ProtocolError(f"a message of {len(frame)} bytes (at most {MAX_MESSAGE_BYTES})")
                message = json.loads(frame)
                if "progress" in message:
                    progress(float(message["progress"]))
                elif "log" in message:
                    level, name, text = message["log"]
                    logging.getLogger(str(name)).log(int(level), "%s", text)
                else:
                    outcome.take(message)
            except (ValueError, TypeError, KeyError, RecursionError) as exc:
                raise ProtocolError(f"{type(exc).__name__}: {exc}") from exc

    def _kill(self, server: _Server, pid: int) -> dict[str, Any]:
        """Kill the running child (and any process it started); never raises."""
        try:
            send_control(server.control, kill=True)
            return server.expect("exited", KILL_TIMEOUT)
        except (AnalysisCrashed, OSError) as exc:
            # The server cannot kill it: killing the server kills its child (parent-death signal), though not
            # what the child started outside its process group (the server would have: docs/analysis.md).
            logger.warning("analysis server did not confirm the kill of %s (%s); restarting it", pid, exc)
            with suppress(OSError):
                server.process.kill()
            self._discard_server()
            return {"exited": -signal.SIGKILL, "peak_rss_bytes": 0}
