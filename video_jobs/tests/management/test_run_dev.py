"""`make run`'s command: development settings only, and a second run fails before it touches anything (on a
port, or on the embedded store's folder when it was given other ports)."""

from __future__ import annotations

import fcntl
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings

from video_jobs.management.commands.run_dev import ADMIN_USER, port_in_use
from video_jobs.s3.embedded import free_port
from video_jobs.s3.seaweedfs import free_port_pair

pytestmark = pytest.mark.django_db


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something listens on, as the first `make run`'s gunicorn or moto would."""
    with socket.socket() as server:
        # One with room for its gRPC twin, which an S3 port needs (run_dev refuses others first).
        server.bind(("127.0.0.1", free_port_pair(set())))
        server.listen()
        yield int(server.getsockname()[1])


def test_run_dev_refuses_to_run_with_debug_off() -> None:
    with pytest.raises(CommandError, match="DJANGO_DEBUG=1"):
        call_command("run_dev")


@pytest.mark.parametrize("busy", ["api", "s3"])
def test_a_second_run_fails_on_the_port_before_touching_the_admin_password(
    listening: int, busy: str, django_user_model: Any
) -> None:
    admin = django_user_model.objects.create_superuser(ADMIN_USER, password="the running one's")
    api_port, s3_port = (listening, free_port_pair(set())) if busy == "api" else (free_port(), listening)

    with (
        override_settings(DEBUG=True, AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{s3_port}"),
        pytest.raises(CommandError, match="already in use"),
    ):
        call_command("run_dev", bind=f"127.0.0.1:{api_port}", s3_port=s3_port)

    admin.refresh_from_db()
    assert admin.check_password("the running one's")
    assert get_user_model().objects.count() == 1  # no demo user either


def test_a_port_is_in_use_only_while_something_listens(listening: int) -> None:
    assert port_in_use("127.0.0.1", listening)
    assert not port_in_use("127.0.0.1", free_port())


def test_a_second_run_on_other_ports_fails_on_the_store_folder_before_touching_anything(
    tmp_path: Path, django_user_model: Any
) -> None:
    admin = django_user_model.objects.create_superuser(ADMIN_USER, password="the running one's")
    s3_port = free_port_pair(set())
    with (tmp_path / "lock").open("wb") as held:
        # What the first run's store holds while it runs.
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with (
            override_settings(DEBUG=True, AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{s3_port}"),
            pytest.raises(CommandError, match="in use by another SeaweedFS"),
        ):
            call_command("run_dev", bind=f"127.0.0.1:{free_port()}", s3_port=s3_port, s3_folder=tmp_path)

    admin.refresh_from_db()
    assert admin.check_password("the running one's")
    assert get_user_model().objects.count() == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["lock"]  # no store started there


def test_an_s3_port_without_room_for_its_grpc_port_is_refused() -> None:
    with override_settings(DEBUG=True), pytest.raises(CommandError, match="gRPC port"):
        call_command("run_dev", s3_port=60000)
