"""Upload one file: hash it, initiate (idempotently, so a rerun resumes the same job), send the bytes in one
PUT or in parallel parts (only the parts S3 does not hold yet), and call upload-complete.

Memory stays flat whatever the file's size: every body is read from the file as it is sent.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import mmap
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .http import ASSEMBLY_TIMEOUT, TIMEOUT, Api, Refused, Retry, send

logger = logging.getLogger(__name__)

HASH_CHUNK = 8 * 1024**2
READ_AT_LEAST = 1024**2
# The most part URLs the API gives in one call.
URLS_A_CALL = 100
# upload-complete may find parts missing (S3 lost none, but another client run may still be sending);
# the missing ones are sent again this many times before giving up.
COMPLETE_ROUNDS = 3


def progress_bar(console: Console) -> Progress:
    """Bytes, rate and ETA (rich, on stderr: stdout stays for --json)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def sha256_of(path: Path, console: Console) -> str:
    """The file's SHA-256, hashed straight from the page cache (mmap: no copy into Python bytes, about
    15% faster than read() here); hashlib releases the GIL, so the progress bar keeps moving."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with progress_bar(console) as progress, path.open("rb") as source:
        task = progress.add_task("hashing", total=size)
        if size:
            with mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                view = memoryview(mapped)
                try:
                    for start in range(0, size, HASH_CHUNK):
                        digest.update(view[start : start + HASH_CHUNK])
                        progress.advance(task, min(HASH_CHUNK, size - start))
                finally:
                    view.release()
    return digest.hexdigest()


class _Counting:
    """``length`` bytes of a file from ``offset``, as a body that requests streams: read from the file as
    they are sent (memory stays flat whatever the size), each read advancing the progress bar.

    Reads answer at least READ_AT_LEAST bytes, whatever urllib3 asks for (16 KiB): a progress update per
    16 KiB held parallel parts back."""

    def __init__(self, path: Path, offset: int, length: int, advance: Callable[[int], None]) -> None:
        self._file = path.open("rb")
        self._file.seek(offset)
        self._left = length
        self._advance = advance

    def __enter__(self) -> _Counting:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def __len__(self) -> int:
        return self._left

    def read(self, size: int = -1) -> bytes:
        wanted = self._left if size < 0 else min(self._left, max(size, READ_AT_LEAST))
        chunk = self._file.read(wanted)
        self._left -= len(chunk)
        self._advance(len(chunk))
        return chunk


class Bar:
    """The upload's progress bar, advanced from the sending threads. The bytes S3 already holds when a
    run resumes are shown as done (``restart``) but are not samples of the rate: the rate and the time left
    count only what this run sends."""

    def __init__(self, progress: Progress, size: int) -> None:
        self._progress = progress
        self._task = progress.add_task("uploading", total=size)
        self._lock = threading.Lock()

    def advance(self, count: int) -> None:
        with self._lock:
            self._progress.advance(self._task, count)

    def restart(self, already: int) -> None:
        with self._lock:
            self._progress.reset(self._task, completed=already)


@dataclass
class Uploader:
    api: Api
    console: Console
    parallel: int = 4
    retry: Retry = field(default_factory=Retry)

    def __post_init__(self) -> None:
        # One connection pool for the PUTs to S3, as large as the parallelism: connections are kept alive
        # from part to part (and carry no API token).
        self._s3 = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=self.parallel)
        self._s3.mount("http://", adapter)
        self._s3.mount("https://", adapter)

    def upload(self, path: Path, content_type: str, *, new: bool = False) -> dict[str, Any]:
        """Upload ``path`` and call upload-complete; returns the job's body as upload-complete answered.

        The same file initiates the same job (its Idempotency-Key is the file's hash and size), so running
        the command again resumes it; ``new`` starts another job for the same file."""
        size = path.stat().st_size
        sha256 = sha256_of(path, self.console)
        body = {"filename": path.name, "content_type": content_type, "size_bytes": size, "sha256": sha256}
        key = f"upload-{sha256}-{size}" + (f"-{uuid.uuid4().hex}" if new else "")
        job: dict[str, Any] = self.api.call(
            "POST", "initiate/", json=body, headers={"Idempotency-Key": key}
        ).json()
        upload = job.get("upload")
        if upload is None:
            ended = job["status"] in ("failed", "cancelled")
            hint = "; run again with --new to upload it as a new job" if ended else ""
            self.console.print(f"this file was uploaded before: job {job['id']} ({job['status']}){hint}")
            return job
        with progress_bar(self.console) as progress:
            bar = Bar(progress, size)
            advance, restart = bar.advance, bar.restart
            if upload["method"] == "multipart":
                return self._multipart(path, job, upload, advance, restart)
            self._put(
                path, upload["url"], upload["headers"], offset=0, length=size, advance=advance, what="PUT"
            )
        return self._complete(job)

    def _put(
        self,
        path: Path,
        url: str,
        headers: dict[str, str],
        *,
        offset: int,
        length: int,
        advance: Callable[[int], None],
        what: str,
    ) -> None:
        """PUT ``length`` bytes of ``path`` from ``offset`` to a presigned URL, with its headers."""
        sent = [0]

        def counted(count: int) -> None:
            sent[0] += count
            advance(count)

        def request() -> requests.Response:
            # A retry sends the part again from its start: take back what the failed try counted.
            advance(-sent[0])
            sent[0] = 0
            with _Counting(path, offset, length, counted) as body:
                return self._s3.put(url, data=body, headers=headers, timeout=TIMEOUT)

        send(what, request, retry=self.retry)

    def _multipart(
        self,
        path: Path,
        job: dict[str, Any],
        upload: dict[str, Any],
        advance: Callable[[int], None],
        restart: Callable[[int], None],
    ) -> dict[str, Any]:
        job_id = job["id"]
        plan = _Plan(upload["part_size"], upload["part_count"], job["size_bytes"])
        held = self.api.call("GET", f"{job_id}/parts/", accept=(409,))
        if held.status_code == 409:  # its parts were assembled already: upload-complete settles the job
            return self._complete(job)
        done = {p["part_number"] for p in held.json()["parts"] if p["size"] == plan.length(p["part_number"])}
        if done:
            self.console.print(f"resuming job {job_id}: {len(done)} of {plan.count} parts already in S3")
        missing = [number for number in plan.numbers() if number not in done]
        for _ in range(COMPLETE_ROUNDS):
            already = set(plan.numbers()) - set(missing)
            restart(sum(plan.length(number) for number in already))
            self._send_parts(path, job_id, missing, plan, advance)
            answer = self._complete(job)
            if answer.get("error_code") != "upload_incomplete":
                return dict(answer)
            missing = list(answer["missing_parts"])
            self.console.print(f"S3 is missing {len(missing)} part(s); sending them again")
        raise Refused(409, answer, f"upload-complete of job {job_id}")

    def _send_parts(
        self, path: Path, job_id: str, numbers: list[int], plan: _Plan, advance: Callable[[int], None]
    ) -> None:
        """PUT ``numbers`` with ``parallel`` threads, asking for their URLs a batch at a time, just before
        use (URLs are short-lived). A 403 is most likely an expired URL: that part gets a fresh one."""

        def one(part: dict[str, Any]) -> None:
            number = part["part_number"]
            what = f"PUT part {number} of job {job_id}"
            put = functools.partial(self._put, path, offset=plan.offset(number), length=plan.length(number))
            try:
                put(part["url"], part["headers"], advance=advance, what=what)
            except Refused as exc:
                if exc.status != 403:
                    raise
                [fresh] = self._urls(job_id, [number])
                put(fresh["url"], fresh["headers"], advance=advance, what=what)

        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            previous: list[Future[None]] = []
            for batch in _batches(numbers, URLS_A_CALL):
                # The next batch's URLs are asked for and queued while the previous batch's last parts are
                # still in flight (waiting for a whole batch first left threads idle at every boundary);
                # at most two batches of URLs wait, so none waits long enough to expire.
                current = [pool.submit(one, part) for part in self._urls(job_id, batch)]
                for future in previous:
                    future.result()  # re-raises the first failure of any part
                previous = current
            for future in previous:
                future.result()

    def _urls(self, job_id: str, numbers: list[int]) -> list[dict[str, Any]]:
        answer = self.api.call("POST", f"{job_id}/parts/", json={"part_numbers": numbers})
        return list(answer.json()["parts"])

    def _complete(self, job: dict[str, Any]) -> dict[str, Any]:
        path = f"{job['id']}/upload-complete/"
        return dict(self.api.call("POST", path, accept=(409,), timeout=ASSEMBLY_TIMEOUT).json())


@dataclass(frozen=True)
class _Plan:
    """The server's part plan: every part but the last is ``part_size`` bytes."""

    part_size: int
    count: int
    size: int

    def numbers(self) -> range:
        return range(1, self.count + 1)

    def offset(self, number: int) -> int:
        return self.part_size * (number - 1)

    def length(self, number: int) -> int:
        return min(self.part_size, self.size - self.offset(number))


def _batches(numbers: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(numbers), size):
        yield numbers[start : start + size]
