"""A client generated from /api/schema/ (openapi-python-client) uploads a video end to end: the schema is
usable, not only valid. The API runs in this process (httpx's WSGI transport); the PUT goes to moto."""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

PACKAGE = "cricksy_generated_client"


@pytest.fixture
def generated(api: APIClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = tmp_path / "schema.json"
    schema.write_bytes(response.content)
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run over the generated code: not needed to use it
    subprocess.run(
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--path",
            str(schema),
            "--output-path",
            str(tmp_path / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module(PACKAGE)


def load(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_a_generated_client_uploads_a_video_end_to_end(
    generated: ModuleType,
    user: Any,
    sample_video: bytes,
    make_worker: Callable[..., Any],
    wsgi_app: WSGIHandler,
) -> None:
    models = load(generated, "models")
    jobs = "api.video_jobs."
    initiate = load(generated, jobs + "video_jobs_initiate_create")
    upload_complete = load(generated, jobs + "video_jobs_upload_complete_create")
    retrieve = load(generated, jobs + "video_jobs_retrieve")
    token, _ = Token.objects.get_or_create(user=user)
    client = generated.AuthenticatedClient(
        base_url="http://localhost",
        token=token.key,
        prefix="Token",
        httpx_args={"transport": httpx.WSGITransport(app=wsgi_app)},
    )

    created = initiate.sync(
        client=client,
        body=models.Initiate(
            filename="nets.mp4",
            content_type=models.ContentTypeEnum("video/mp4"),
            size_bytes=len(sample_video),
            sha256=hashlib.sha256(sample_video).hexdigest(),
        ),
    )
    assert isinstance(created, models.InitiatedJob), created
    assert created.status == models.StatusEnum.AWAITING_UPLOAD
    assert created.error_code is None

    put = httpx.request(
        created.upload.method,
        created.upload.url,
        headers=created.upload.headers.to_dict(),
        content=sample_video,
        timeout=30,
    )
    assert put.status_code == 200

    queued = upload_complete.sync(id=created.id, client=client)
    assert isinstance(queued, models.Job), queued
    assert queued.status == models.StatusEnum.QUEUED

    fetched = retrieve.sync(id=created.id, client=client)
    assert isinstance(fetched, models.Job)
    assert (fetched.id, fetched.status, fetched.size_bytes) == (created.id, queued.status, len(sample_video))
    assert fetched.result is None

    # And the analysis comes back as the typed result the schema describes.
    assert make_worker().run_once() is True
    done = retrieve.sync(id=created.id, client=client)
    assert isinstance(done, models.Job)
    assert done.status == models.StatusEnum.DONE
    result = done.result
    assert isinstance(result, models.AnalysisResult)
    assert (result.video.width, result.video.height) == (160, 90)
    assert result.motion.segments, "the sample video has a burst of motion"
    assert result.poster.artifact in result.artifacts.additional_properties
    assert result.source.sha256 == hashlib.sha256(sample_video).hexdigest()


def test_its_errors_come_back_typed(generated: ModuleType, user: Any, wsgi_app: WSGIHandler) -> None:
    models = load(generated, "models")
    retrieve = load(generated, "api.video_jobs.video_jobs_retrieve")
    token, _ = Token.objects.get_or_create(user=user)
    client = generated.AuthenticatedClient(
        base_url="http://localhost",
        token=token.key,
        prefix="Token",
        httpx_args={"transport": httpx.WSGITransport(app=wsgi_app)},
    )
    missing = retrieve.sync(id="00000000-0000-4000-8000-000000000000", client=client)
    assert isinstance(missing, models.Error)
    assert missing.error_code == "not_found"
