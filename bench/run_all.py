"""Run every benchmark (`make bench`) and print one table of the figures; each also lands in
bench/results/latest.json with the command that reproduces it and the machine it ran on.

    .venv/bin/python bench/run_all.py [--quick]

--quick runs smaller sizes (a sanity check, not figures to quote).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import common

FULL = [
    ["queue_throughput.py", "--jobs", "5000", "--workers", "1", "2", "4"],
    ["pickup_latency.py", "--jobs", "50"],
    ["api_latency.py", "--users", "8", "--duration", "10", "--rounds", "2"],
    ["claim_scaling.py"],
    ["worker_memory.py", "--sizes-mb", "10", "100", "1024"],
    ["download.py", "--megabytes", "256", "--rounds", "3"],
    ["analysis_child.py", "--rounds", "5", "--empty", "50"],
    ["client_upload.py", "--size-mib", "1024", "--rounds", "3"],
    ["pose_analysis.py", "--seconds", "60", "--rounds", "2"],
]
QUICK = [
    ["queue_throughput.py", "--jobs", "500", "--workers", "1", "2", "--rounds", "1"],
    ["pickup_latency.py", "--jobs", "5"],
    ["api_latency.py", "--users", "4", "--duration", "2", "--rounds", "1", "--requests", "100"],
    ["claim_scaling.py", "--claims", "100", "--big", "20000"],
    ["worker_memory.py", "--sizes-mb", "10", "50"],
    ["download.py", "--megabytes", "32", "--rounds", "1"],
    ["analysis_child.py", "--rounds", "1", "--empty", "10"],
    ["client_upload.py", "--size-mib", "128", "--rounds", "1"],
    ["pose_analysis.py", "--seconds", "6", "--rounds", "1", "--sizes", "720"],
]


def figures_of(results: dict[str, Any], benchmark: str) -> dict[str, Any]:
    """One benchmark's figures in latest.json; none when it has not run there."""
    return dict(results.get(benchmark, {}).get("figures", {}))


def table(results: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    throughput = figures_of(results, "queue_throughput")
    for key, entry in sorted(throughput.items()):
        if key.startswith("processes_"):
            worker, loop = entry["run_worker"]["jobs_per_s"], entry["minimal_psycopg_loop"]["jobs_per_s"]
            ratios = entry["all_rounds"]["ratio"]
            rows.append(
                (
                    f"queue throughput, {key.split('_')[1]} process(es)",
                    f"{entry['ratio']:.0%} of the minimal loop (rounds {min(ratios):.0%}-{max(ratios):.0%}); "
                    f"medians {worker} vs {loop} jobs/s",
                )
            )
    pickup = figures_of(results, "pickup_latency")
    for mode, entry in pickup.items():
        rows.append((f"pickup latency, {mode}", f"p50 {entry['p50_ms']} ms, p95 {entry['p95_ms']} ms"))
    api = figures_of(results, "api_latency")
    for call in ("initiate", "get_job", "upload_complete"):
        if call in api:
            entry = api[call]
            extra = ""
            if "head_object_share_of_total" in entry:
                extra = (
                    f", HeadObject {entry['head_object_share_of_total']:.0%} of the total"
                    f" ({entry['head_object_share_of_verification']:.0%} of the server's verification)"
                )
            rows.append(
                (
                    f"API {call} ({api.get('users', api.get('clients'))} connections)",
                    f"{entry['requests_per_s']} req/s, p50 {entry['p50_ms']} ms, "
                    f"p99 {entry['p99_ms']} ms{extra}",
                )
            )
    claim = figures_of(results, "claim_scaling")
    for key, entry in claim.items():
        if key.startswith("rows_"):
            rows.append(
                (f"claim time, {int(key[5:]):,} rows", f"p50 {entry['p50_ms']} ms, p95 {entry['p95_ms']} ms")
            )
    memory = figures_of(results, "worker_memory")
    videos = [key for key in memory if key.startswith("video_")]
    for key in sorted(videos, key=lambda name: int(name.split("_")[1])):
        rows.append(
            (
                f"worker peak RSS, {key[6:].replace('_', ' ')} video",
                f"{memory[key]['worker_peak_rss_mib']} MiB",
            )
        )
    download = figures_of(results, "download")
    for store, figures in download.items():
        if isinstance(figures, dict):
            for key, value in figures.items():
                if key.endswith("_mb_per_s"):
                    rows.append((f"download from {store}, {key[:-9]}", f"{value} MB/s"))
    child = figures_of(results, "analysis_child")
    if child:
        rows.append(
            (
                "analysis of a 10 s 720p video, in a child",
                f"{child['child_over_in_process'] - 1:+.1%} against in-process (medians "
                f"{child['in_child_s']} vs {child['in_process_s']} s); "
                f"an empty child {child['empty_child']['p50_ms']} ms (p50)",
            )
        )
    upload = figures_of(results, "client_upload")
    for store, figures in upload.items():
        if isinstance(figures, dict) and "client" in figures:
            client = figures["client"]
            rows.append(
                (
                    f"upload {upload['size_mib']} MiB to {store}, client vs boto3 upload_file",
                    f"{client['mib_per_s']} vs {figures['boto3_upload_file_mib_per_s']} MiB/s "
                    f"({client['over_boto3']:.2f}x; the client also hashes, "
                    f"{upload['read_sha256_seconds']} s)",
                )
            )
    pose = figures_of(results, "pose_analysis")
    for key, entry in pose.items():
        if isinstance(entry, dict) and "default_x_realtime" in entry:
            rows.append(
                (
                    f"analysis of {entry['video']['seconds']} s at {key}, one worker",
                    f"{entry['default_x_realtime']}x realtime with pose, "
                    f"{entry['motion_alone_x_realtime']}x motion alone",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for script in QUICK if args.quick else FULL:
        print(f"== {' '.join(script)}", flush=True)
        subprocess.run([sys.executable, f"bench/{script[0]}", *script[1:]], cwd=common.ROOT, check=True)
    results = json.loads(common.RESULTS.read_text())
    rows = table(results)
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    print(f"\nmachine: {json.dumps(common.machine())}")
    print("reproduce: make bench")


if __name__ == "__main__":
    main()
