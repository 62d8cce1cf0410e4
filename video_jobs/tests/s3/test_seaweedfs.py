"""The embedded SeaweedFS (``weed mini``) as ``make run`` uses it: what it held survives a restart, its
credentials are new at every start and only its own, one process at a time per folder, and nothing of it is
left in /tmp once it stops."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from video_jobs.s3.seaweedfs import GRPC_OFFSET, SeaweedFS, StoreInUse


def leftover_sockets(ports: dict[str, int]) -> list[Path]:
    numbers = [*ports.values(), *(port + GRPC_OFFSET for port in ports.values())]
    return [path for number in numbers for path in Path("/tmp").glob(f"seaweedfs-*-{number}.sock")]


def test_a_restarted_store_keeps_its_objects_under_new_credentials(tmp_path: Path) -> None:
    first = SeaweedFS(tmp_path).start()
    try:
        assert leftover_sockets(first.ports)  # what weed writes while it runs
        with pytest.raises(StoreInUse):
            SeaweedFS(tmp_path).start()
        first.client().create_bucket(Bucket="kept-videos")
        first.client().put_object(Bucket="kept-videos", Key="videos/1/poster.jpg", Body=b"a poster")
        old_key = first.access_key
        ports = dict(first.ports)
    finally:
        first.stop()
    assert leftover_sockets(ports) == []
    assert stat.S_IMODE((tmp_path / "s3.json").stat().st_mode) == 0o600

    second = SeaweedFS(tmp_path).start()
    try:
        kept = second.client().get_object(Bucket="kept-videos", Key="videos/1/poster.jpg")
        assert kept["Body"].read() == b"a poster"
        assert second.access_key != old_key
        stale = SeaweedFS(tmp_path)
        stale.ports, stale.access_key, stale.secret_key = second.ports, old_key, first.secret_key
        with pytest.raises(ClientError):
            stale.client().list_buckets()
    finally:
        second.stop()
    assert list((tmp_path / "logs").iterdir())  # its log is in the folder, not elsewhere
