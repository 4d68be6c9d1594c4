"""Benchmark: verifying a large recording vs plainly downloading it, same client, same run.

    .venv/bin/python -m benchmarks.verify [--megabytes 200] [--rounds 3]

Starts SeaweedFS on loopback and stores one MP3 of the given size twice: as a single part (its
ETag is an MD5 SeaweedFS computed itself, so it is not recomputed: ``app.recordings.verify``)
and as a multipart upload (no MD5). Verification computes SHA-256 and probes the audio. For
each, alternates rounds of a plain download through the same boto3 client (chunks read and dropped) and ``inspect()``.
Each round runs in a fresh process, whose peak RSS (VmHWM) is reported, with the CPU of the
client and of the store (SeaweedFS shares this machine's cores: when the two together use all
of them, the round is CPU-bound and a verification's hashing is taken from the store's share;
the last line of each object gives the ratio that bound allows).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks.http_load import cpu_seconds

BUCKET = "bench"
KEYS = {"single-part (ETag = MD5)": "calls/single.mp3", "multipart (no MD5)": "calls/multi.mp3"}


def peak_rss_kb() -> int:
    """VmHWM: this process's peak RSS (ru_maxrss would include the parent's, kept across exec)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def child(mode: str, endpoint: str, key: str) -> None:
    from app.recordings.verify import inspect
    from app.storage import parse_location
    from app.storage.s3 import S3Backend
    from tests.storage_servers import S3_SERVICE

    backend = S3Backend(*S3_SERVICE, "us-east-1", endpoint)
    location = parse_location(f"s3://{BUCKET}/{key}")
    baseline = peak_rss_kb()
    started, cpu = time.perf_counter(), time.process_time()
    if mode == "download":
        size = sum(len(chunk) for chunk in backend.open(location))
        detail = {}
    else:
        found = inspect(backend, location)
        size = found.info.size
        detail = {"sha256": found.sha256[:16], "md5_checked": found.computed_md5 is not None,
                  "duration_s": round((found.probe.duration_ms or 0) / 1000)}
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = peak_rss_kb()
    print(json.dumps({"mode": mode, "bytes": size, "seconds": seconds, "cpu_seconds": cpu, "peak_kb": peak,
                      "import_kb": baseline,
                      **detail}))


def make_object(client, megabytes: int) -> int:
    from app.simulator.audio import mp3

    piece = mp3(600)  # ten minutes of real MP3; frames concatenate into a longer valid stream
    data = piece * (megabytes * 1024 * 1024 // len(piece) + 1)
    import io

    from boto3.s3.transfer import TransferConfig

    client.create_bucket(Bucket=BUCKET)
    single, multi = KEYS.values()
    client.put_object(Bucket=BUCKET, Key=single, Body=data)  # one part: the ETag is the MD5
    client.upload_fileobj(io.BytesIO(data), BUCKET, multi,
                          Config=TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=16 << 20))
    size = len(data)
    del data, piece  # the rounds run in children; keep this process small
    return size


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from tests.storage_servers import S3_SERVICE, s3_client, start_seaweedfs

    server = start_seaweedfs()
    try:
        size = make_object(s3_client(server.endpoint, *S3_SERVICE), args.megabytes)
        results = {(label, mode): [] for label in KEYS for mode in ("download", "verify")}
        for _ in range(args.rounds):
            for label, mode in results:
                before = sum(cpu_seconds(server.process.pid))
                out = subprocess.run([sys.executable, "-m", "benchmarks.verify", "--child", mode, server.endpoint,
                                      KEYS[label]], capture_output=True, text=True, check=True)
                result = json.loads(out.stdout.strip().splitlines()[-1])
                result["store_cpu_seconds"] = sum(cpu_seconds(server.process.pid)) - before
                results[(label, mode)].append(result)
    finally:
        server.close()
    mb = size / 1e6
    print(f"object: {mb:.0f} MB MP3 on SeaweedFS (loopback), {args.rounds} rounds each, a fresh process each, "
          f"{os.cpu_count()} cores shared by client and store")
    for label in KEYS:
        rates, per_gb = {}, {}
        for mode in ("download", "verify"):
            runs = results[(label, mode)]
            rates[mode] = mb / statistics.median(r["seconds"] for r in runs)
            client = statistics.median(r["cpu_seconds"] / r["seconds"] for r in runs)
            store = statistics.median(r["store_cpu_seconds"] / r["seconds"] for r in runs)
            per_gb[mode] = statistics.median((r["cpu_seconds"] + r["store_cpu_seconds"]) / r["bytes"] * 1e9
                                             for r in runs)
            peak = max(r["peak_kb"] for r in runs) / 1024
            imports = statistics.median(r["import_kb"] for r in runs) / 1024
            print(f"  {label:30} {mode:8} {rates[mode]:7.1f} MB/s   peak RSS {peak:5.1f} MB "
                  f"(after imports {imports:4.1f} MB)   CPU: client {client:.2f} + store {store:.2f} cores")
        last = results[(label, "verify")][-1]
        print(f"  {label:30} verify/download: {rates['verify'] / rates['download']:.2f}  "
              f"(MD5 recomputed: {last['md5_checked']}, probed duration {last['duration_s']} s)")
        print(f"  {label:30} CPU per GB, client + store: download {per_gb['download']:.2f}, verify "
              f"{per_gb['verify']:.2f} core-seconds; were both CPU-bound, verify/download would be "
              f"{per_gb['download'] / per_gb['verify']:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
