"""Download throughput of the worker's streaming download (storage.download: fixed-size chunks into a
temporary file, SHA-256 on the way, IfMatch on the verified ETag) against a plain boto3 download_file of
the same object, and against boto3's get_object body streamed to a file with no hashing (the same single
GET, minus our work); from moto's S3 server and from SeaweedFS, one after the other in the same run.

    .venv/bin/python bench/download.py [--megabytes 256] [--rounds 3] [--stores moto seaweedfs]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import common


def measure(megabytes: int, rounds: int) -> dict[str, float]:
    """The three downloads of one object from the S3 the settings point at, best of ``rounds`` each."""
    from video_jobs.s3 import storage

    size = megabytes * 1024 * 1024
    key = "bench/download-object"
    figures: dict[str, float] = {}
    s3 = storage.client()
    with tempfile.TemporaryFile() as source:
        block = os.urandom(1024 * 1024)
        for _ in range(megabytes):
            source.write(block)
        source.seek(0)
        s3.upload_fileobj(source, storage.bucket_name(), key)
    etag = storage.head(bucket=storage.bucket_name(), key=key).etag

    def ours(path: str) -> None:
        with open(path, "wb") as destination:
            result = storage.download(
                bucket=storage.bucket_name(), key=key, destination=destination, if_match=etag
            )
        assert result.size == size

    def plain(path: str) -> None:
        s3.download_file(storage.bucket_name(), key, path)
        assert os.path.getsize(path) == size

    def plain_stream(path: str) -> None:
        body = s3.get_object(Bucket=storage.bucket_name(), Key=key)["Body"]
        with open(path, "wb") as destination:
            for chunk in body.iter_chunks(storage.DOWNLOAD_CHUNK_BYTES):
                destination.write(chunk)
        assert os.path.getsize(path) == size

    runs = (
        ("storage_download", ours),
        ("boto3_get_object_stream", plain_stream),
        ("boto3_download_file", plain),
    )
    for name, run in runs:
        best = float("inf")
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as folder:
                started = time.perf_counter()
                run(os.path.join(folder, "video"))
                best = min(best, time.perf_counter() - started)
        figures[f"{name}_mb_per_s"] = round(megabytes / best, 1)
    for plain_name in ("boto3_get_object_stream", "boto3_download_file"):
        ratio = figures["storage_download_mb_per_s"] / figures[f"{plain_name}_mb_per_s"]
        figures[f"ratio_ours_over_{plain_name}"] = round(ratio, 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stores", nargs="+", choices=common.STORES, default=list(common.STORES))
    args = parser.parse_args()
    common.setup_django()

    figures: dict[str, object] = {"object_mb": args.megabytes, "rounds": args.rounds}
    for store in args.stores:
        with common.s3_store(store):
            figures[store] = measure(args.megabytes, args.rounds)
    common.save(
        "download",
        figures,
        command=f".venv/bin/python bench/download.py --megabytes {args.megabytes} --rounds {args.rounds}"
        f" --stores {' '.join(args.stores)}",
    )


if __name__ == "__main__":
    main()
