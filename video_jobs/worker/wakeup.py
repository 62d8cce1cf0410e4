"""A self-pipe: the way a signal handler or another thread wakes a thread sleeping in ``select()``."""

from __future__ import annotations

import os
from contextlib import suppress


class SelfPipe:
    """A non-blocking pipe: ``poke()`` makes ``fileno()`` readable until ``drain()``.

    ``poke()`` takes no lock and never blocks, so it is safe from a signal handler; the write end can also be
    given to ``signal.set_wakeup_fd``.
    """

    def __init__(self) -> None:
        self._read, self.write_fd = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self.write_fd, False)
        self.closed = False

    def fileno(self) -> int:
        return self._read

    def poke(self) -> None:
        if self.closed:
            return  # its descriptor number may name another file by now
        # A full pipe already holds a wake-up, so a failed write loses nothing.
        with suppress(BlockingIOError, OSError):
            os.write(self.write_fd, b"\0")

    def drain(self) -> None:
        with suppress(BlockingIOError, OSError):
            while os.read(self._read, 4096):
                pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._read)
            os.close(self.write_fd)
