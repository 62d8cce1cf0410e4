"""A webhook receiver to try webhooks with under ``make run``: it prints one line for each delivery, and
verifies its signature when given the endpoint's secret (with the ``standardwebhooks`` package, as a real
receiver would).

    .venv/bin/python -m video_jobs.devtools.receiver --port 9999 [--secret whsec_...]

It answers 204 to a delivery that verifies (or to any, without a secret) and 400 to one that does not, so
the dispatcher's retries can be watched too. For development only: it listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

# A delivery is a few kilobytes; anything larger is not ours.
MAX_BODY = 1024**2


def describe(body: bytes) -> str:
    """One line about an event: its type, and the job's id, status and error code when it has a job."""
    try:
        event: dict[str, Any] = json.loads(body)
        data = event.get("data") or {}
        job = f" job {data['id']} {data.get('status', '')}" if "id" in data else ""
        error = f" ({data['error_code']})" if data.get("error_code") else ""
        return f"{event.get('type', '?')}{job}{error}".rstrip()
    except (ValueError, AttributeError, TypeError):
        return f"{len(body)} bytes that are not an event"


def handler(secret: str | None) -> type[BaseHTTPRequestHandler]:
    verifier = Webhook(secret) if secret else None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 <= length <= MAX_BODY:
                self.send_response(413)
                self.end_headers()
                return
            body = self.rfile.read(length)
            verdict, status = "unverified", 204
            if verifier is not None:
                try:
                    verifier.verify(body, {key.lower(): value for key, value in self.headers.items()})
                    verdict = "signature ok"
                except WebhookVerificationError:
                    verdict, status = "BAD SIGNATURE", 400
            when = datetime.now().strftime("%H:%M:%S")
            print(f"{when} {describe(body)} [{verdict}]", flush=True)
            self.send_response(status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # the line above says it all
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m video_jobs.devtools.receiver", description=__doc__)
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument("--secret", help="the endpoint's secret (whsec_...), to verify each signature")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(args.secret))
    print(f"receiving webhooks on http://127.0.0.1:{server.server_port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
