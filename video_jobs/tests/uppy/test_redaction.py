"""The Uppy routes' path token never reaches a log: Django's (``django.request`` logs every 4xx and 5xx with
its path) through the project's logging configuration, and gunicorn's access log as ``make run`` and a
deployment run it (``cricksy/gunicorn_conf.py``)."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from video_jobs.management.commands.run_dev import gunicorn_command
from video_jobs.s3.embedded import free_port
from video_jobs.uppy.redaction import RedactUppyTokens, redact

from ..support.uppy_client import Uppy
from ..support.waiting import wait_for

pytestmark = pytest.mark.django_db

TOKEN = "eyJ1IjoiMSJ9:1xabc:s1gnature-of-the_token"


def test_redact_hides_the_token_wherever_a_path_sits_in_a_line() -> None:
    assert redact(f"Forbidden: /api/uppy/{TOKEN}/s3/params") == "Forbidden: /api/uppy/[token]/s3/params"
    assert redact(f'"GET /api/uppy/{TOKEN}/s3/multipart/x/1?key=k HTTP/1.1" 200') == (
        '"GET /api/uppy/[token]/s3/multipart/x/1?key=k HTTP/1.1" 200'
    )
    assert redact(f"http://host/api/uppy/{TOKEN}") == "http://host/api/uppy/[token]"
    assert redact("GET /api/uppy/endpoint/ 200") == "GET /api/uppy/endpoint/ 200"


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the project's console handler (settings.LOGGING) writes, captured."""
    [handler] = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(way, RedactUppyTokens) for way in handler.filters)
    ]
    assert isinstance(handler, logging.StreamHandler)
    captured = io.StringIO()
    previous = handler.setStream(captured)
    try:
        yield captured
    finally:
        handler.setStream(previous)


def test_django_request_logs_a_refused_uppy_call_without_its_token(user: Any, console: io.StringIO) -> None:
    uppy = Uppy(user)
    token = uppy.base.split("/")[3]
    assert uppy.client.get(f"{uppy.base}/multipart/nothing/1", {"key": "k"}).status_code == 404
    assert Client().get(f"/api/uppy/{TOKEN}/s3/params").status_code == 403

    logged = console.getvalue()
    assert "Not Found: /api/uppy/[token]/s3/multipart/nothing/1" in logged
    assert "Forbidden: /api/uppy/[token]/s3/params" in logged
    assert token not in logged
    assert TOKEN not in logged


def test_gunicorns_access_log_carries_no_token(tmp_path: Path) -> None:
    port = free_port()
    access_log = tmp_path / "access.log"
    # As make run starts it (run_dev), with the settings a deployment uses.
    server = subprocess.Popen(
        gunicorn_command(f"127.0.0.1:{port}", workers=1, access_log=str(access_log)),
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_DEBUG": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def refused() -> int | None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/uppy/{TOKEN}/s3/params", timeout=5)
            except urllib.error.HTTPError as answer:
                return answer.code
            except OSError:
                return None  # not listening yet
            return 200

        assert wait_for(refused, timeout=30, what="gunicorn to answer") == 403
        logged = wait_for(lambda: access_log.exists() and access_log.read_text(), what="the access log line")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "/api/uppy/[token]/s3/params" in logged
    assert TOKEN not in logged
