"""The receiver `make run` suggests for trying webhooks: a real process, real signed requests."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from django.conf import settings
from standardwebhooks import Webhook

from video_jobs.s3.embedded import free_port

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def receiver() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    command = [sys.executable, "-m", "video_jobs.devtools.receiver", "--port", str(port), "--secret", SECRET]
    process = subprocess.Popen(command, cwd=settings.BASE_DIR, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().startswith("receiving webhooks on")  # it listens from here on
    yield f"http://127.0.0.1:{port}/", process
    process.terminate()
    process.wait(timeout=10)


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    now = datetime.now(tz=UTC)
    signature = Webhook(secret).sign("msg_1", now, body.decode())
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def test_it_prints_a_line_for_each_delivery_and_checks_its_signature(
    receiver: tuple[str, subprocess.Popen[str]],
) -> None:
    url, process = receiver
    assert process.stdout is not None
    event = {
        "type": "video_job.failed",
        "data": {"id": "3f0c", "status": "failed", "error_code": "invalid_video"},
    }
    body = json.dumps(event).encode()

    good = requests.post(url, data=body, headers=signed(body), timeout=10)
    forged = requests.post(
        url, data=body, headers=signed(body, "whsec_" + base64.b64encode(b"x" * 32).decode()), timeout=10
    )

    assert (good.status_code, forged.status_code) == (204, 400)
    first, second = process.stdout.readline(), process.stdout.readline()
    assert first.split(" ", 1)[1] == "video_job.failed job 3f0c failed (invalid_video) [signature ok]\n"
    assert second.endswith("[BAD SIGNATURE]\n")
