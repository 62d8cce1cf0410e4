from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, override_settings
from playwright.sync_api import Browser, Page, sync_playwright
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from video_jobs import services
from video_jobs.db import is_postgresql
from video_jobs.devtools.synthetic_video import write_test_video
from video_jobs.models import VideoAnalysisJob
from video_jobs.s3 import bucket_setup, storage
from video_jobs.s3.embedded import MotoServer
from video_jobs.s3.seaweedfs import SeaweedFS
from video_jobs.worker.loop import Worker

from .support import progress
from .support.hostile_videos import huge_h264
from .support.jobs import make_job
from .support.s3_config import BUCKET, s3_settings
from .support.s3_proxy import FaultyS3Proxy
from .support.uppy_client import Uppy
from .support.webhook_receiver import Receiver
from .support.worker_processes import Workers

# Django's PBKDF2 at one iteration (support/hashing.py): the real format and check, without 0.3 s a user.
ONE_ITERATION_HASHER = "video_jobs.tests.support.hashing.OneIterationPBKDF2PasswordHasher"

# boto3's credential chain; moto accepts any key. Set before any client exists.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")


def pytest_configure(config: pytest.Config) -> None:
    progress.register(config)
    override_settings(PASSWORD_HASHERS=[ONE_ITERATION_HASHER]).enable()


# What opens the test database. A test that asks for none of them cannot touch it (pytest-django refuses).
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("postgres"):
            if item.get_closest_marker("any_database"):
                # test-postgres leaves any_database out, test-sqlite leaves postgres out: it would never run.
                raise pytest.UsageError(f"{item.nodeid} is marked both postgres and any_database")
            # Concurrency proofs talk to a real server; they need a transactional database.
            item.add_marker(pytest.mark.django_db(transaction=True))
        elif (
            isinstance(item, pytest.Function)
            and not item.get_closest_marker("django_db")
            and DATABASE_FIXTURES.isdisjoint(item.fixturenames)
        ):
            # It proves the same whatever the database: the SQLite run is enough (make test-postgres).
            item.add_marker(pytest.mark.any_database)


@pytest.fixture(autouse=True)
def _postgres_marker_needs_postgres(request: pytest.FixtureRequest) -> None:
    # Never skip: a PostgreSQL test on another database is a broken run, not an optional test.
    if request.node.get_closest_marker("postgres") and not is_postgresql():
        pytest.fail("this test needs PostgreSQL: run it with DATABASE_URL=postgres://... (see README)")


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    # The API's request counts live in this process's cache, and each test's users get the same ids again.
    cache.clear()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _s3_session_settings(moto_server: MotoServer) -> Iterator[None]:
    with override_settings(AWS_S3_ENDPOINT_URL=moto_server.endpoint, AWS_STORAGE_BUCKET_NAME=BUCKET):
        bucket_setup.ensure_bucket()
        yield


@pytest.fixture(autouse=True)
def s3(_s3_session_settings: None) -> Any:
    """Every test talks to the moto server's bucket; returns the boto3 client for arranging objects."""
    return storage.client()


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="bob", password="pw-bob-123")


@pytest.fixture
def admin_user(django_user_model: Any) -> Any:
    """A superuser: staff with every permission, without a password."""
    return django_user_model.objects.create_superuser(
        username="root", email="root@example.com", password=None
    )


@pytest.fixture
def staff(client: Client, admin_user: Any) -> Client:
    client.force_login(admin_user)
    return client


@pytest.fixture
def ops_staff(client: Client, django_user_model: Any) -> Client:
    """A staff session without any permission: what /metrics asks of a person."""
    client.force_login(django_user_model.objects.create_user(username="ops", is_staff=True))
    return client


def token_client(user: Any) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(user: Any) -> APIClient:
    return token_client(user)


@pytest.fixture
def other_api(other_user: Any) -> APIClient:
    return token_client(other_user)


@pytest.fixture
def wsgi_app() -> Iterator[WSGIHandler]:
    """The project's WSGI app, called in this process (schemathesis, httpx's WSGI transport).

    Like Django's test client, it keeps the test's database connection open across requests: the handler
    would otherwise close it at each request's end, and with it the test's transaction on PostgreSQL.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def put_video(s3: Any) -> Callable[..., None]:
    """Upload bytes to a job's key, as the client's presigned PUT would."""

    def put(job: Any, data: bytes) -> None:
        s3.put_object(Bucket=job.s3_bucket, Key=job.s3_key, Body=data, ContentType=job.content_type)

    return put


# --- worker tests ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Ten seconds of real H.264 (160x90, 10 fps) with one burst of motion at 3-5 s."""
    path = tmp_path_factory.mktemp("videos") / "sample.mp4"
    return write_test_video(path, seconds=10, width=160, height=90, fps=10).read_bytes()


@pytest.fixture(scope="session")
def huge_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An H.264 file of three 16384x8192 frames: about a megabyte that decodes to 200 MB a frame."""
    return huge_h264(tmp_path_factory.mktemp("huge") / "huge.mp4")


@pytest.fixture
def queue_job(user: Any, s3: Any) -> Callable[..., VideoAnalysisJob]:
    """A job taken the real way to ``queued``: awaiting its upload (the one factory), its bytes PUT, then
    upload-complete (HeadObject)."""

    def make(data: bytes, *, sha256: str = "", owner: Any = None) -> VideoAnalysisJob:
        job = make_job(owner or user, filename="over 12.mp4", size_bytes=len(data), sha256=sha256)
        s3.put_object(Bucket=job.s3_bucket, Key=job.s3_key, Body=data, ContentType=job.content_type)
        verified = services.complete_upload(job=job)
        # The outcome, not the job's status: a running worker may have claimed it already.
        assert (verified.outcome, verified.changed) == (services.Outcome.QUEUED, True), verified
        return verified.job

    return make


@pytest.fixture
def make_worker() -> Iterator[Callable[..., Worker]]:
    """Workers built by a test; their heartbeat threads (and analysis servers) are stopped after it.

    They analyse in the test's own process unless the test asks for ``isolated=True``: most tests watch the
    analyzer from inside (closures, rows in the test's transaction), which a child process could not.
    """
    workers: list[Worker] = []

    def make(**kwargs: Any) -> Worker:
        kwargs.setdefault("worker_id", f"test-worker-{len(workers) + 1}")
        kwargs.setdefault("isolated", False)
        worker = Worker(**kwargs)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.close()


@pytest.fixture
def done_job(
    make_worker: Callable[..., Worker], queue_job: Callable[..., VideoAnalysisJob], sample_video: bytes
) -> VideoAnalysisJob:
    """A job of ``user`` analysed by the default (PyAV) analyzer in this process: it has a poster frame, a
    motion timeline with its segments, and its source video."""
    job = queue_job(sample_video)
    assert make_worker().run_once() is True
    job = VideoAnalysisJob.objects.get(pk=job.pk)
    assert job.status == VideoAnalysisJob.Status.DONE, job.error_message
    return job


@pytest.fixture
def workers(moto_server: MotoServer, tmp_path: Path) -> Iterator[Workers]:
    """Real worker processes (``worker_processes.Workers``), killed after the test."""
    running = Workers(moto_server, tmp_path)
    yield running
    running.cleanup()
    for log in running.logs:
        # Shown by pytest only when the test failed.
        print(f"--- {log.name} ---\n{log.read_text()}")


@pytest.fixture
def s3_proxy(moto_server: MotoServer) -> Iterator[FaultyS3Proxy]:
    """The app's S3 endpoint becomes a proxy to moto that can inject faults."""
    proxy = FaultyS3Proxy(moto_server.endpoint).start()
    with override_settings(AWS_S3_ENDPOINT_URL=proxy.endpoint):
        yield proxy
    proxy.stop()


# --- webhook tests -----------------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real webhook receiver on 127.0.0.1 that verifies every request with the standardwebhooks package."""
    with Receiver() as running:
        yield running


@pytest.fixture
def allow_private() -> Iterator[None]:
    """Webhooks may go to 127.0.0.1 (the receiver), as VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE=1 allows."""
    with override_settings(VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE=True):
        yield


# --- a real browser ------------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright (``make browser`` installs it)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    # Playwright's sync API keeps an event loop running in this thread while the browser is open, and
    # Django refuses ORM calls from a thread with a running loop. Our ORM calls (the test's and
    # pytest-django's database flush) never run concurrently with it, so allow them for this long only.
    with pytest.MonkeyPatch.context() as env, sync_playwright() as playwright:
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server: Any) -> Iterator[Page]:
    """A fresh browser context on the live server (pytest-django's, in a thread of this process)."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def browser_uploads(live_server: Any, strict_s3: SeaweedFS) -> Iterator[None]:
    """The pages upload to a real store (SeaweedFS, which holds browsers to the bucket's CORS rule), whose
    bucket lets a page of the live server upload to it, as run_dev's does for its own origin."""
    bucket_setup.allow_browser_uploads([live_server.url])
    yield
    storage.client().delete_bucket_cors(Bucket=BUCKET)


# --- a real object store -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One SeaweedFS for the whole session (it starts in about two seconds) on free ports, its bucket made."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs")).start()
    server.client().create_bucket(Bucket=BUCKET)
    yield server
    server.stop()


@pytest.fixture
def strict_s3(seaweedfs: SeaweedFS) -> Iterator[SeaweedFS]:
    """The app's S3 becomes SeaweedFS, which refuses what S3 refuses (a signature, length or checksum that
    does not match, a POST outside its policy, a browser origin outside the CORS rule); moto refuses none.
    The bucket is the session's: tests use keys of their own and put back what they change."""
    with override_settings(AWS_S3_ENDPOINT_URL=seaweedfs.endpoint, **s3_settings(seaweedfs)):
        yield seaweedfs


# --- Uppy (its Companion routes: uppy_client.py) ------------------------------------------------------------


@pytest.fixture
def uppy(user: Any) -> Uppy:
    return Uppy(user)


@pytest.fixture
def upload(uppy: Uppy) -> dict[str, str]:
    response = uppy.create()
    assert response.status_code == 201, response.json()
    return dict(response.json())
