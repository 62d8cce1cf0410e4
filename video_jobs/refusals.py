"""The base of every refusal a client may be told about, whichever layer raises it.

A domain exception (``QuotaExceeded`` in services, ``StorageUnavailable`` in s3, ...) subclasses ``Refusal``
and says how it is answered: its stable ``error_code``, HTTP ``status``, a ``detail`` for people (``str(exc)``
is for the log and may name internals; ``detail`` never does), ``retry_after`` seconds where a retry is worth
it, and any ``extra`` fields of its body. The API's one exception handler (``api.errors``) speaks them; this
module imports neither Django REST framework nor anything of the API, so any layer may raise them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class Refusal(Exception):
    """A refusal with the answer it gets. Subclasses set ``error_code``, ``status`` and ``detail``."""

    error_code: str = "error"
    status: HTTPStatus = HTTPStatus.BAD_REQUEST
    detail: str = "The request was refused."
    # A refusal of one argument (the name the raiser knows it by), answered as that field's error.
    field: str | None = None

    def __init__(self, message: str = "", *, detail: str | None = None) -> None:
        if detail is not None:
            self.detail = detail
        super().__init__(message or self.detail)

    @property
    def retry_after(self) -> int | None:
        """Seconds after which the same call may succeed, sent as ``Retry-After``; None when it will not."""
        return None

    def extra(self) -> dict[str, Any]:
        """Fields of the answer beside ``error_code`` and ``detail``."""
        return {}
