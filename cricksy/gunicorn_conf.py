"""Gunicorn's settings for the API: ``gunicorn -c python:cricksy.gunicorn_conf cricksy.wsgi`` (``make run``
and docs/operations.md run it so).

- An access log without the Uppy routes' path token (a credential: ``video_jobs.uppy.redaction``).
- A request timeout above the 600 s a multipart upload-complete may wait for S3 to assemble the object.
- Sync workers, gunicorn's default: on 2 cores, 2 threaded workers (gthread, 4 threads each) served no
  more initiates a second than 2 sync workers, fewer GETs, with longer tails (bench/README.md, issue 24).

Command-line options still win over these.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]  # gunicorn ships no type hints

from video_jobs.uppy.redaction import redacted_atoms

timeout = 620


class RedactingLogger(Logger):  # type: ignore[misc]  # Logger is untyped (Any)
    """Gunicorn's logger, its access-log atoms redacted before the format sees them."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        return redacted_atoms(super().atoms(resp, req, environ, request_time))


logger_class = RedactingLogger
