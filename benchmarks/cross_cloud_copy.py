"""Benchmark: a cross-cloud copy job vs a plain client download + upload, same object, same run.

    .venv/bin/python -m benchmarks.api --only copy [--megabytes 500] [--rounds 2]

Starts SeaweedFS (S3), Azurite (Azure Blob) and fake-gcs-server (GCS) on loopback and stores one
MP3 of the given size in S3 and in Azure. For each pair (S3 → Azure, Azure → GCS) it alternates:

* ``plain`` — what one does by hand with the clouds' own clients: download the object to a
  temporary file (boto3 ``download_file`` / azure ``download_blob().readinto``), then upload that
  file (azure ``upload_blob`` / google ``upload_from_filename``), each SDK's managed transfer;
* ``transfer`` — the copy job's streaming step alone: :class:`app.recordings.copies.Stream` over
  the source's ``open()`` into the target's ``upload()`` (multipart, 8 MiB parts), no disk;
* ``job`` — the whole job, :func:`app.recordings.copies.run`: transfer, then reading the copy
  back to verify it (SHA-256 must match, audio probed), then cataloguing it.

Every round runs in a fresh process, whose peak RSS (VmHWM) is reported beside its throughput.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

PAIRS = (("s3", "azure"), ("azure", "gs"))
MODES = ("plain", "transfer", "job")


def peak_rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def child(mode: str, spec: dict) -> None:
    from app import create_app
    from app.storage import parse_location, reader

    app = create_app({"DATABASE_URL": spec["database_url"], "RULES_FILE": spec["rules"],
                      "INSTANCE_PATH": spec["instance"], "LOG_LEVEL": "WARNING"})
    ruleset = app.extensions["rules"].current
    source, target = parse_location(spec["source"]), parse_location(spec["target"])
    source_read, target_read = ruleset.destinations["source"].read, ruleset.destinations["target"].read
    baseline = peak_rss_kb()
    started = time.perf_counter()
    if mode == "plain":
        plain(source, source_read, target, target_read)
    elif mode == "transfer":
        from app.recordings.copies import Stream

        backend = reader(source.scheme, source_read)
        stream = Stream(backend.open(source), lambda done: None)
        reader(target.scheme, target_read).upload(target, stream, spec["size"], "audio/mpeg")
        assert stream.sha256.hexdigest() == spec["sha256"]
    else:
        from app.db import db
        from app.recordings.copies import SUCCEEDED, create, run
        from app.recordings.models import Recording

        now, source_id = datetime.now(timezone.utc), uuid.uuid4().hex
        with app.app_context():
            with db.engine.begin() as connection:
                connection.execute(Recording.__table__.insert().values(
                    id=source_id, call_id="bench", segment=1, status="verified", destination="source",
                    destination_url=source.uri, format="mp3", size_bytes=spec["size"], sha256=spec["sha256"],
                    content_type="audio/mpeg", requested_at=now, verify_attempts=1, legal_hold=False))
            job_id, _ = create(db.engine, ruleset, source_id, requested_by="bench", destination="target",
                               key=target.key)
            assert run(db.engine, ruleset, job_id) == SUCCEEDED
    seconds = time.perf_counter() - started
    print(json.dumps({"mode": mode, "seconds": seconds, "peak_kb": peak_rss_kb(), "import_kb": baseline}))


def plain(source, source_read, target, target_read) -> None:
    """Download to a temporary file, then upload it, with each cloud's own client."""
    with tempfile.NamedTemporaryFile(dir=os.environ.get("BENCH_TMP")) as file:
        if source.scheme == "s3":
            import boto3

            client = boto3.client("s3", endpoint_url=source_read["endpoint_url"], region_name="us-east-1",
                                  aws_access_key_id=source_read["access_key"],
                                  aws_secret_access_key=source_read["secret_key"])
            client.download_file(source.bucket, source.key, file.name)
        else:
            from azure.storage.blob import BlobClient

            blob = BlobClient.from_connection_string(source_read["connection_string"], source.bucket, source.key)
            blob.download_blob(max_concurrency=4).readinto(file)
            file.flush()
        if target.scheme == "azure":
            from azure.storage.blob import BlobClient

            blob = BlobClient.from_connection_string(target_read["connection_string"], target.bucket, target.key)
            with open(file.name, "rb") as data:
                blob.upload_blob(data, overwrite=True, max_concurrency=4)
        else:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            client = storage.Client(project="bench", credentials=AnonymousCredentials(),
                                    client_options={"api_endpoint": target_read["endpoint"]})
            client.bucket(target.bucket).blob(target.key).upload_from_filename(file.name)


def run_copy_benchmark(megabytes: int, rounds: int) -> None:
    import hashlib

    import yaml

    from app.simulator.audio import mp3
    from benchmarks.callbacks import migrate
    from tests.storage_servers import start_azurite, start_fake_gcs, start_seaweedfs
    from tests.support import Store

    servers = {"s3": start_seaweedfs(), "azure": start_azurite(), "gs": start_fake_gcs()}
    workdir = tempfile.mkdtemp(prefix="copy-bench-")
    try:
        piece = mp3(600)
        data = piece * (megabytes * 1024 * 1024 // len(piece) + 1)
        size, sha256 = len(data), hashlib.sha256(data).hexdigest()
        stores = {scheme: Store(scheme, server, f"bench-{uuid.uuid4().hex[:8]}") for scheme, server in servers.items()}
        for scheme in {source for source, _ in PAIRS}:
            stores[scheme].upload(_uri(stores[scheme], "source.mp3"), data)
        del data, piece
        print(f"object: {size / 1e6:.0f} MB MP3; {rounds} rounds per mode, a fresh process each; loopback servers")
        for source, target in PAIRS:
            rules = os.path.join(workdir, f"{source}-{target}.yaml")
            with open(rules, "w") as file:
                yaml.safe_dump({"version": 1, "allow_literal_credentials": True, "destinations": {
                    name: {"url": store.url, "sinch_credentials": store.sinch_credentials, "read": store.read}
                    for name, store in (("source", stores[source]), ("target", stores[target]))},
                    "rules": [{"id": "all", "connect": "dialled"}]}, file)
            results = {mode: [] for mode in MODES}
            for round_ in range(rounds):
                for mode in MODES:
                    database = f"sqlite:///{workdir}/{source}-{target}-{round_}-{mode}.db"
                    migrate(database)
                    spec = {"database_url": database, "rules": rules, "instance": workdir, "size": size,
                            "sha256": sha256, "source": _uri(stores[source], "source.mp3"),
                            "target": _uri(stores[target], f"{mode}-{round_}.mp3")}
                    out = subprocess.run([sys.executable, "-m", "benchmarks.cross_cloud_copy", "--child", mode,
                                          json.dumps(spec)], capture_output=True, text=True,
                                         env={**os.environ, "BENCH_TMP": workdir})
                    if out.returncode:
                        raise SystemExit(f"{mode} {source}→{target} failed:\n{out.stderr[-3000:]}")
                    results[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
            rates = {mode: size / 1e6 / statistics.median(r["seconds"] for r in runs) for mode, runs in results.items()}
            print(f"{source} → {target}")
            for mode, runs in results.items():
                peak = max(r["peak_kb"] for r in runs) / 1024
                imports = statistics.median(r["import_kb"] for r in runs) / 1024
                print(f"  {mode:9} {rates[mode]:7.1f} MB/s  ({rates[mode] / rates['plain']:.2f}× plain)   "
                      f"peak RSS {peak:6.1f} MB (after imports {imports:5.1f} MB)")
    finally:
        for server in servers.values():
            server.close()
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


def _uri(store, key: str) -> str:
    base = store.url.split("/{", 1)[0]
    return f"{base}/{key}"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], json.loads(sys.argv[3]))
