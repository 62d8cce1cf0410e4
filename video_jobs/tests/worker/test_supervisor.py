"""The --concurrency supervisor as a real process over real child processes: it names its children and hands
them its arguments, passes a signal on to each once, restarts a crashed child after a growing delay, exits
0 only when every child stopped gracefully, and its children stop with it even when it is killed.

The children are stand-in workers (``supervised.py``) so that these tests need no database; real workers
under the supervisor are tested in test_run_worker.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from video_jobs.worker.supervisor import RESTART_DELAY, RESTART_DELAY_MAX, worker_command

from ..support.supervised import CRASH_CODE, DIRECTORY, MODULE, read_events
from ..support.waiting import wait_for


class Supervised:
    """Starts supervisor processes over stand-in workers; kills what is left after the test."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.output = directory / "supervisor.log"
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, concurrency: int, worker_id: str, *child_args: str) -> subprocess.Popen[bytes]:
        with self.output.open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", MODULE, "supervisor", str(concurrency), worker_id, *child_args],
                cwd=settings.BASE_DIR,
                env={**os.environ, DIRECTORY: str(self.directory)},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        return [line for line in read_events(self.directory) if event is None or line["event"] == event]

    def ids(self, event: str) -> list[str]:
        return sorted(line["worker_id"] for line in self.events(event))

    def ask(self, request: str, worker_id: str, content: str = "") -> None:
        (self.directory / f"{request}-{worker_id}").write_text(content)

    def log(self) -> str:
        return self.output.read_text()

    def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        exited = {line["pid"] for line in self.events("exit")}
        for line in self.events("start"):
            if line["pid"] not in exited:
                with suppress(ProcessLookupError):
                    os.kill(line["pid"], signal.SIGKILL)


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Supervised]:
    running = Supervised(tmp_path)
    yield running
    running.cleanup()
    print(f"--- supervisor output ---\n{running.log() if running.output.exists() else ''}")


def test_the_children_run_manage_py_run_worker_from_the_project() -> None:
    assert worker_command("--burst") == [
        sys.executable,
        str(settings.BASE_DIR / "manage.py"),
        "run_worker",
        "--burst",
    ]


def test_each_child_is_named_after_the_supervisor_and_gets_its_arguments(supervised: Supervised) -> None:
    supervisor = supervised.start(3, "pool", "--burst", "--max-jobs", "5")

    assert supervisor.wait(timeout=30) == 0

    argv = {line["worker_id"]: line["argv"] for line in supervised.events("start")}
    assert argv == {
        f"pool-{n}": ["--burst", "--max-jobs", "5", "--worker-id", f"pool-{n}"] for n in (1, 2, 3)
    }


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_is_passed_once_to_each_child_and_graceful_stops_exit_zero(
    supervised: Supervised, signum: signal.Signals
) -> None:
    supervisor = supervised.start(2, "pool")
    wait_for(lambda: supervised.ids("ready") == ["pool-1", "pool-2"], what="two children ready")

    supervisor.send_signal(signum)

    assert supervisor.wait(timeout=30) == 0
    signals = [(line["worker_id"], line["name"]) for line in supervised.events("signal")]
    assert sorted(signals) == [("pool-1", signum.name), ("pool-2", signum.name)]
    assert {line["code"] for line in supervised.events("exit")} == {0}
    assert supervised.ids("start") == ["pool-1", "pool-2"]  # a child that stops is not restarted


def test_children_run_in_their_own_session_so_a_terminals_ctrl_c_reaches_only_the_supervisor(
    supervised: Supervised,
) -> None:
    supervisor = supervised.start(2, "pool")
    wait_for(lambda: supervised.ids("ready") == ["pool-1", "pool-2"], what="two children ready")

    sessions = {line["pid"]: line["session"] for line in supervised.events("start")}
    assert all(session == pid for pid, session in sessions.items())  # each leads its own session
    assert os.getsid(supervisor.pid) not in sessions.values()

    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=30) == 0


def test_a_child_that_does_not_stop_gracefully_makes_the_supervisor_exit_one(supervised: Supervised) -> None:
    supervised.ask("ungraceful", "pool-2")
    supervisor = supervised.start(2, "pool")
    wait_for(lambda: supervised.ids("ready") == ["pool-1", "pool-2"], what="two children ready")

    supervisor.send_signal(signal.SIGTERM)

    assert supervisor.wait(timeout=30) == 1
    assert supervised.ids("start") == ["pool-1", "pool-2"]  # exiting while stopping is not a crash
    assert "did not stop gracefully: {'pool-2': 1}" in supervised.log()


def test_a_crashed_child_is_restarted_after_a_delay_that_doubles_with_each_crash(
    supervised: Supervised,
) -> None:
    supervised.ask("crash", "pool-1", "2")
    supervisor = supervised.start(2, "pool", "--burst")

    assert supervisor.wait(timeout=30) == 0  # the last run of each child ended gracefully

    runs = [line for line in supervised.events() if line["worker_id"] == "pool-1"]
    starts = [line["at"] for line in runs if line["event"] == "start"]
    crashes = [line["at"] for line in runs if line["event"] == "exit" and line["code"] == CRASH_CODE]
    assert (len(starts), len(crashes)) == (3, 2)
    delays = [started - crashed for crashed, started in zip(crashes, starts[1:], strict=True)]
    assert delays[0] >= RESTART_DELAY
    assert delays[1] >= min(RESTART_DELAY_MAX, 2 * RESTART_DELAY)
    assert supervised.ids("start").count("pool-2") == 1
    assert f"exited with {CRASH_CODE}; restarting it in {RESTART_DELAY:.1f}s" in supervised.log()


def test_the_children_stop_gracefully_when_the_supervisor_is_killed(supervised: Supervised) -> None:
    supervisor = supervised.start(2, "pool")
    wait_for(lambda: supervised.ids("ready") == ["pool-1", "pool-2"], what="two children ready")

    supervisor.send_signal(signal.SIGKILL)  # no chance to pass anything on: the kernel tells the children
    supervisor.wait()

    wait_for(lambda: supervised.ids("exit") == ["pool-1", "pool-2"], what="both children to exit")
    assert [line["name"] for line in supervised.events("signal")] == ["SIGTERM", "SIGTERM"]
    assert {line["code"] for line in supervised.events("exit")} == {0}
