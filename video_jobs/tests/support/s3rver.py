"""npm's @20minutes/s3rver as a child process: an S3 server that checks SigV4 signatures, which moto does
not. ``make setup`` installs it from package.json (``npm ci``). It listens on a free 127.0.0.1 port and keeps
its objects in a directory of the test's, on disk: s3rver streams an upload's parts into the object when it
completes it, so a multi-gigabyte upload needs disk, not memory (moto's server assembles one in memory).
The multipart calls it lacks (ListParts, AbortMultipartUpload, ListMultipartUploads) are added by
``s3rver_multipart.js``, behind its own signature check."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from django.conf import settings

from video_jobs.s3.embedded import stop_server

PACKAGE = Path(settings.BASE_DIR) / "node_modules" / "@20minutes" / "s3rver"
EXTENSION = Path(__file__).with_name("s3rver_multipart.js")
# The package ships its command line as a module without the bin script: run that module, once the
# extension has added its routes.
_LAUNCH = (
    "require(process.argv[2])(process.argv[3]);"
    " require(process.argv[1]).parseAsync(process.argv.slice(4), {from: 'user'})"
)
_LISTENING = "S3rver listening on "


class S3rver:
    # The one key pair s3rver knows; a request signed with any other is refused.
    ACCESS_KEY_ID = SECRET_ACCESS_KEY = "S3RVER"

    def __init__(self, directory: Path, *, bucket: str) -> None:
        self.directory = directory
        self.bucket = bucket
        self.endpoint = ""
        self.log = directory / "s3rver.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> S3rver:
        cli = PACKAGE / "lib" / "cli.js"
        if not cli.exists():
            raise RuntimeError(f"{cli} is missing: run `make setup` (npm ci) first")
        # Its output goes to a file, not a pipe that nobody reads once it has started (a full pipe would
        # stall the server).
        data = self.directory / "data"
        options = ["--directory", str(data), "--address", "127.0.0.1", "--port", "0", "--silent"]
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                [
                    "node",
                    "-e",
                    _LAUNCH,
                    "--",
                    str(cli),
                    str(EXTENSION),
                    str(PACKAGE),
                    *options,
                    "--configure-bucket",
                    self.bucket,
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        # Port 0: the server takes a free port and says which once it listens.
        while self.process.poll() is None and time.monotonic() < deadline:
            for line in self.log.read_text().splitlines():
                if line.startswith(_LISTENING):
                    self.endpoint = f"http://{line[len(_LISTENING) :].strip()}"
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"s3rver did not start: {self.log.read_text()}")

    def stop(self) -> None:
        stop_server(self.process)
