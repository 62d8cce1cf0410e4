"""Run the whole service on its embedded defaults: SeaweedFS as its S3 (its objects in the checkout's
``.seaweedfs/``, kept across runs like ``db.sqlite3``), migrations, a demo user, the API under gunicorn, one
worker and the webhook dispatcher. For a first run and demos; production runs each part on its own."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token

from video_jobs.s3 import bucket_setup
from video_jobs.s3.seaweedfs import GRPC_OFFSET, SeaweedFS, StoreInUse
from video_jobs.worker.supervisor import spawn, worker_command

DEMO_USER = "demo"
# Where the receiver that `make run` suggests for trying webhooks listens.
RECEIVER_PORT = 9999
ADMIN_USER = "admin"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` (a socket lingering in TIME_WAIT does not count)."""
    family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return True
    return False


def gunicorn_command(
    bind: str, *, workers: int = 2, threads: int | None = None, access_log: str = "-"
) -> list[str]:
    """The API's gunicorn as ``make run`` starts it (``bench/api_latency.py`` measures this very command):
    sync workers, unless ``threads`` asks for gunicorn's threaded ones (to compare)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        # An access log without the Uppy path token (cricksy/gunicorn_conf.py), as a deployment runs it.
        "-c",
        "python:cricksy.gunicorn_conf",
        "cricksy.wsgi",
        "--bind",
        bind,
        "--workers",
        str(workers),
        *(["--threads", str(threads)] if threads is not None else []),
        # Every request in a file: in the terminal, the page's polling drowned the worker's line per job (and
        # each 404 showed twice, beside Django's own warning).
        "--access-logfile",
        access_log,
        # upload-complete of a multipart upload waits for S3 to assemble the object: up to
        # storage.ASSEMBLY_CLIENT_CONFIG's read timeout, not gunicorn's default 30 s.
        "--timeout",
        "620",
    ]


class Command(BaseCommand):
    help = "Run SeaweedFS (S3), the API, a worker and the webhook dispatcher till Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000", help="gunicorn bind address")
        parser.add_argument("--s3-port", type=int, default=9000, help="port of the embedded S3 (SeaweedFS)")
        parser.add_argument(
            "--s3-folder",
            type=Path,
            default=None,
            help="where the embedded S3 keeps its objects, logs and credentials (default: .seaweedfs/)",
        )
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument(
            "--logs",
            type=Path,
            default=settings.BASE_DIR / ".logs",
            help="folder of the API's access log (default: .logs/)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            # It prints a demo token and a fresh superuser password: never against a real deployment.
            raise CommandError("run_dev is the development service: run it with DJANGO_DEBUG=1 (`make run`).")
        if not 0 < options["s3_port"] <= 65535 - GRPC_OFFSET:
            raise CommandError(
                f"--s3-port must be 1 to {65535 - GRPC_OFFSET}: its gRPC port is {GRPC_OFFSET} above"
            )
        s3_endpoint = f"http://127.0.0.1:{options['s3_port']}"
        if s3_endpoint != settings.AWS_S3_ENDPOINT_URL:
            raise CommandError(
                f"run_dev starts its S3 on {s3_endpoint}, but AWS_S3_ENDPOINT_URL is "
                f"{settings.AWS_S3_ENDPOINT_URL!r}: unset it or pass the matching --s3-port."
            )
        # Before anything else: a second run would otherwise reset the running one's admin password (and
        # take its S3 for its own) before gunicorn failed on the port. A second run on other ports stops at
        # the store's folder, which the first one holds locked.
        host, _, port = options["bind"].rpartition(":")
        grpc = options["s3_port"] + GRPC_OFFSET
        for where, (address, number) in {
            options["bind"]: (host, int(port)),
            s3_endpoint: ("127.0.0.1", options["s3_port"]),
            f"127.0.0.1:{grpc} (the S3's gRPC port)": ("127.0.0.1", grpc),
        }.items():
            if port_in_use(address, number):
                raise CommandError(f"{where} is already in use (is another `make run` running?)")
        # SIGTERM stops everything like Ctrl-C does. SIGINT is restored too: a shell starts background jobs
        # with it ignored, and then Ctrl-C or `kill -INT` would leave the children running.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _interrupt)
        # A development setup: webhooks to a receiver on this machine (refused in production) can be tried.
        # Children inherit it; the printed instructions say so.
        os.environ.setdefault("VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE", "1")
        access_log = options["logs"] / "access.log"
        access_log.parent.mkdir(parents=True, exist_ok=True)
        folder = options["s3_folder"] or settings.BASE_DIR / ".seaweedfs"
        children: list[subprocess.Popen[bytes]] = []
        store = SeaweedFS(folder, s3_port=options["s3_port"])
        try:
            try:
                store.start()
            except StoreInUse as exc:
                raise CommandError(str(exc)) from None
            # The store's credentials, generated at its start: this process and its children use them (they
            # are in no setting and no log line).
            os.environ["AWS_ACCESS_KEY_ID"] = store.access_key
            os.environ["AWS_SECRET_ACCESS_KEY"] = store.secret_key
            os.environ.pop("AWS_SESSION_TOKEN", None)
            self.stdout.write(f"S3 (SeaweedFS) listening on {s3_endpoint}, its objects in {folder}")
            bucket_setup.ensure_bucket()
            # Browsers on our pages (the coaches' /app/, Swagger UI) and on origins allowed to call the API
            # upload straight to this S3: by PUT (single uploads, parts) and form POST (Uppy's small files).
            own = [f"http://{options['bind']}", f"http://localhost:{port}"]
            bucket_setup.allow_browser_uploads([*own, *settings.CORS_ALLOWED_ORIGINS])
            # As a deployment's bucket should: parts of uploads nobody finishes do not stay forever.
            bucket_setup.abort_incomplete_uploads()
            call_command("migrate", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            token, demo_password, admin_password = self._demo_users()
            children.append(
                subprocess.Popen(
                    gunicorn_command(
                        options["bind"], workers=options["web_workers"], access_log=str(access_log)
                    ),
                    cwd=settings.BASE_DIR,
                )
            )
            # In its own session (see spawn): Ctrl-C reaches only this process, whose single SIGTERM below
            # lets the worker finish or hand back its job.
            self._until_listening(host, int(port), children[-1])
            children.append(spawn(worker_command()))
            children.append(spawn([sys.executable, str(settings.BASE_DIR / "manage.py"), "run_webhooks"]))
            self._print_instructions(options["bind"], token, demo_password, admin_password, access_log)
            self._wait(children)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
            store.stop()

    def _demo_users(self) -> tuple[str, str, str]:
        """The demo user's API token and the two users' passwords (new every run)."""
        users = get_user_model()
        demo, _ = users.objects.get_or_create(username=DEMO_USER)
        demo_password = secrets.token_urlsafe(12)
        demo.set_password(demo_password)  # for the coaches' page (/app/)
        demo.save()
        token, _ = Token.objects.get_or_create(user=demo)
        admin, _ = users.objects.get_or_create(username=ADMIN_USER)
        password = secrets.token_urlsafe(12)
        admin.is_staff = admin.is_superuser = True
        admin.set_password(password)
        admin.save()
        return token.key, demo_password, password

    def _until_listening(self, host: str, port: int, web: subprocess.Popen[bytes]) -> None:
        """Until gunicorn accepts connections: the instructions printed next work from the moment they
        show."""
        deadline = time.monotonic() + 120
        while not port_in_use(host, port):
            if web.poll() is not None:
                raise CommandError("the API (gunicorn) exited at its start; see its lines above")
            if time.monotonic() > deadline:
                raise CommandError(f"the API (gunicorn) is not listening on {host}:{port} after 120 s")
            time.sleep(0.1)

    def _wait(self, children: list[subprocess.Popen[bytes]]) -> None:
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.stdout.write("stopping...")
            return
        raise CommandError("a child process exited; stopping the others")

    def _print_instructions(
        self, bind: str, token: str, demo_password: str, admin_password: str, access_log: Path
    ) -> None:
        base = f"http://{bind}"
        py = "python3 -c 'import json,sys; print(json.load(sys.stdin)"
        # Like every manage.py command, on the development settings only when asked (DJANGO_DEBUG=1).
        make_video = (
            f"DJANGO_DEBUG=1 {sys.executable} {settings.BASE_DIR / 'manage.py'} make_test_video demo.mp4"
        )
        self.stdout.write(
            f"""
Cricksy video jobs is running.
  Coaches' page: {base}/app/   user {DEMO_USER!r}, password {demo_password!r} (new every run)
  API:    {base}/api/video-jobs/        schema: {base}/api/schema/
  Docs:   {base}/api/docs/ (Swagger UI: Authorize with "Token <the demo token>")   {base}/api/redoc/
  Admin:  {base}/admin/   user {ADMIN_USER!r}, password {admin_password!r} (new every run)
  Demo API token (user {DEMO_USER!r}): {token}

A worker and the webhook dispatcher are running too. Try the whole flow in another terminal (any video
file will do as demo.mp4; the second line makes one: 12 seconds of a field where a player runs across at
3-5 s and 11-12 s):

  export TOKEN={token}
  {make_video}
  JOB=$(curl -s -X POST {base}/api/video-jobs/initiate/ -H "Authorization: Token $TOKEN" \\
        -H 'Content-Type: application/json' \\
        -d "{{\\"filename\\": \\"demo.mp4\\", \\"content_type\\": \\"video/mp4\\", \\
              \\"size_bytes\\": $(stat -c %s demo.mp4)}}")
  echo "$JOB"
  JOB_ID=$(echo "$JOB" | {py}["id"])')
  UPLOAD_URL=$(echo "$JOB" | {py}["upload"]["url"])')
  curl -s -X PUT "$UPLOAD_URL" -H 'Content-Type: video/mp4' --upload-file demo.mp4
  curl -s -X POST {base}/api/video-jobs/$JOB_ID/upload-complete/ -H "Authorization: Token $TOKEN"; echo
  for i in $(seq 30); do
    STATUS=$(curl -s {base}/api/video-jobs/$JOB_ID/ -H "Authorization: Token $TOKEN" | {py}["status"])')
    echo "$STATUS"; case "$STATUS" in done|failed) break;; esac; sleep 1
  done
  curl -s {base}/api/video-jobs/$JOB_ID/ -H "Authorization: Token $TOKEN" | python3 -m json.tool
  curl -sL {base}/api/video-jobs/$JOB_ID/artifacts/poster.jpg -H "Authorization: Token $TOKEN" -o poster.jpg

Webhooks to this machine are allowed under make run (VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE=1). Try them: register
a receiver, then run it with the secret the first command prints (a line for each delivery, verified):

  curl -s -X POST {base}/api/webhook-endpoints/ -H "Authorization: Token $TOKEN" \
       -H 'Content-Type: application/json' -d '{{"url": "http://127.0.0.1:{RECEIVER_PORT}/"}}'; echo
  {sys.executable} -m video_jobs.devtools.receiver --port {RECEIVER_PORT} --secret <its secret>

Requests are logged in {access_log}; this terminal shows the worker's line per job and any error.
Ctrl-C stops everything.
"""
        )
