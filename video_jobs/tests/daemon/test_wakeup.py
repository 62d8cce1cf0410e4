"""The self-pipe that wakes a thread sleeping in select(): from a signal handler or another thread."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator

import pytest

from video_jobs.daemon.wakeup import SelfPipe


@pytest.fixture
def pipe() -> Iterator[SelfPipe]:
    wakeup = SelfPipe()
    yield wakeup
    wakeup.close()


def readable(fd: int | SelfPipe) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def test_a_poke_wakes_select_until_drained(pipe: SelfPipe) -> None:
    assert not readable(pipe)

    pipe.poke()
    pipe.poke()
    assert readable(pipe)

    pipe.drain()
    assert not readable(pipe)


def test_a_poke_never_blocks_even_when_the_pipe_is_full(pipe: SelfPipe) -> None:
    for _ in range(200_000):  # far beyond a pipe's buffer
        pipe.poke()

    assert readable(pipe)
    pipe.drain()
    assert not readable(pipe)


def test_a_closed_pipe_ignores_pokes_instead_of_writing_to_a_reused_descriptor() -> None:
    pipe = SelfPipe()
    old_write = pipe.write_fd
    pipe.close()
    read, write = os.pipe()  # the lowest free numbers: the closed pipe's
    try:
        assert write == old_write
        pipe.poke()
        assert not readable(read)
        pipe.close()  # closing twice is harmless
    finally:
        os.close(read)
        os.close(write)
