"""The loop the worker and the webhook dispatcher share, driven with a scripted daemon: passes back to back
while they find work, a sleep that a wake-up cuts short, reconnecting after the database drops the
connection, and the signals (in this process, and as a process of its own for the second one's exit)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from ..support.daemons import SCRIPTED_MAIN, Scripted
from ..support.waiting import wait_for

# run() recycles the database connection between passes (close_old_connections), as between requests: only a
# transactional test database lets it.
pytestmark = pytest.mark.django_db(transaction=True)


def test_passes_run_back_to_back_while_they_find_work_and_a_burst_ends_at_the_first_idle_one() -> None:
    with Scripted(True, True, True, burst=True) as daemon:
        assert daemon.run() == 0

    assert daemon.passes == 4
    assert daemon.sleeps == []
    assert daemon.closed


def test_an_idle_daemon_sleeps_the_poll_interval_until_woken_and_a_stop_ends_the_loop() -> None:
    def stop_from_another_thread(daemon: Scripted) -> bool:
        daemon.poll_interval = 30.0  # only the wake-up could end this sleep soon
        threading.Thread(target=daemon.request_stop).start()
        return False

    daemon = Scripted(True, False, stop_from_another_thread, poll_interval=0.05)

    assert daemon.run() == 0

    assert daemon.passes == 3
    [(_, first), (slept, second)] = daemon.sleeps
    assert (first, second) == (0.05, 30.0)
    assert slept < 30.0  # the stop woke it, and the loop ended without another pass


def test_the_first_signal_stops_the_loop_gracefully_and_the_previous_handler_comes_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    previous = signal.getsignal(signal.SIGTERM)

    def terminated(daemon: Scripted) -> bool:
        os.kill(os.getpid(), signal.SIGTERM)
        wait_for(lambda: daemon.stop_requested, what="the handler")  # it runs in this thread
        return True

    daemon = Scripted(terminated, True, True)
    with caplog.at_level(logging.INFO):
        assert daemon.run() == 0

    assert daemon.passes == 1  # no pass began after the stop
    assert "SIGTERM: stopping" in [record.message for record in caplog.records]
    assert signal.getsignal(signal.SIGTERM) == previous


@pytest.mark.postgres
def test_after_the_database_drops_its_connection_the_daemon_waits_and_reconnects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sessions: list[int] = []

    def query(daemon: Scripted) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            row = cursor.fetchone()
        assert row is not None
        sessions.append(row[0])
        return False

    def cut(daemon: Scripted) -> bool:
        query(daemon)
        # What a database restart does to the daemon: its session is ended from outside.
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [sessions[-1]])
        return True

    daemon = Scripted(cut, query, query, poll_interval=0.05, burst=True)
    with caplog.at_level(logging.WARNING):
        assert daemon.run() == 0

    # Pass 2 met the ended session; a poll interval later pass 3 had a new one, and found nothing to do.
    assert daemon.passes == 3
    assert len(sessions) == 2
    assert sessions[0] != sessions[1]
    assert [timeout for _, timeout in daemon.sleeps] == [0.05]
    [warning] = [record for record in caplog.records if "database unavailable" in record.message]
    assert warning.name == Scripted.log.name  # the daemon's own logger, not the skeleton's
    assert warning.message.endswith("; retrying in 0.05s")


# --- as a process of its own --------------------------------------------------------------------------------


@pytest.fixture
def run_scripted(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A scripted daemon in a process of its own, holding work until ``release`` exists; its log."""
    log = tmp_path / "daemon.log"
    env = {**os.environ, "HOLD_UNTIL": str(tmp_path / "release"), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "shell", "-c", SCRIPTED_MAIN],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    yield tmp_path, process
    if process.poll() is None:
        process.kill()
        process.wait()
    print(log.read_text())  # shown by pytest only when the test failed


def test_a_stop_waits_for_the_work_held_and_then_exits_zero(
    run_scripted: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    directory, process = run_scripted
    log = directory / "daemon.log"
    wait_for(lambda: "pass 1" in log.read_text(), timeout=30, what="the daemon's first pass")

    process.send_signal(signal.SIGTERM)
    wait_for(lambda: log.read_text().count("after a stop") >= 2, what="passes after the stop")
    assert process.poll() is None  # still holding work
    (directory / "release").touch()

    assert process.wait(timeout=30) == 0
    assert "SIGTERM: stopping" in log.read_text()


def test_a_second_signal_exits_at_once_with_128_plus_its_number(
    run_scripted: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    directory, process = run_scripted
    log = directory / "daemon.log"
    wait_for(lambda: "pass 1" in log.read_text(), timeout=30, what="the daemon's first pass")

    process.send_signal(signal.SIGINT)
    wait_for(lambda: "after a stop" in log.read_text(), what="a pass after the stop")
    process.send_signal(signal.SIGINT)

    assert process.wait(timeout=30) == 128 + signal.SIGINT
    assert "second SIGINT: exiting now" in log.read_text()
