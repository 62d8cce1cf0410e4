"""The Uppy routes' path token kept out of logs: ``redact`` for any text, ``RedactUppyTokens`` for Django's
logging (``django.request`` logs every 4xx and 5xx with its path), ``RedactingGunicornLogger`` for gunicorn's
access log (``cricksy/gunicorn_conf.py``). Imports nothing of Django's, so logging can load it at start-up.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# /api/uppy/<token>/..., percent-encoded or not, anywhere in a line (a path, a request line, a referer).
_TOKEN_IN_PATH = re.compile(r"(/api/uppy/)(?!endpoint(?:/|\b))[^/\s?\"']+")
REDACTED = r"\1[token]"


def redact(text: str) -> str:
    return _TOKEN_IN_PATH.sub(REDACTED, text)


class RedactUppyTokens(logging.Filter):
    """A handler's filter: the record's message, arguments included, with every Uppy token redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/api/uppy/" in message:
            record.msg, record.args = redact(message), None
        return True


def redacted_atoms(atoms: dict[str, Any]) -> dict[str, Any]:
    """Gunicorn's access-log atoms (request line, path, referer, ...) with every Uppy token redacted."""
    return {name: redact(value) if isinstance(value, str) else value for name, value in atoms.items()}
