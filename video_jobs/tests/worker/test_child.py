"""The frames an analysis child sends its worker: whole however the pipe splits them, and none longer than
allowed."""

from __future__ import annotations

import os

import pytest

from video_jobs.worker.child import MAX_FRAME_BYTES, FrameReader, ProtocolError


def test_frames_arrive_whole_however_the_pipe_splits_them() -> None:
    read_fd, write_fd = os.pipe()
    reader = FrameReader(read_fd)
    message = len(b'{"progress": 0.5}').to_bytes(4, "big") + b'{"progress": 0.5}'

    os.write(write_fd, message[:3])
    assert reader.read() == []
    os.write(write_fd, message[3:] + message[:10])
    assert reader.read() == [b'{"progress": 0.5}']
    os.write(write_fd, message[10:])
    os.close(write_fd)
    assert reader.read() == [b'{"progress": 0.5}']
    assert reader.closed
    os.close(read_fd)


def test_a_frame_longer_than_allowed_is_refused_before_it_is_read() -> None:
    read_fd, write_fd = os.pipe()
    reader = FrameReader(read_fd)
    os.write(write_fd, (MAX_FRAME_BYTES + 1).to_bytes(4, "big") + b"x" * 1000)

    with pytest.raises(ProtocolError, match="a frame of 16777217 bytes"):
        reader.read()
    os.close(write_fd)
    os.close(read_fd)
