"""Google Cloud Storage (google-cloud-storage, JSON API)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import BinaryIO, Iterator

from google.api_core import exceptions as gcs_errors
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY
from google.oauth2 import service_account

from app.storage.backend import CHUNK, PART, TIMEOUTS, AccessDenied, Changed, NotFound, ObjectInfo, StorageError
from app.storage.locations import Location

# Resumable uploads send one part at a time (no parallel parts as in S3 or Azure), so a larger part
# keeps the pipe full: 32 MiB measured 3× faster than 8 MiB per 128 MB against fake-gcs-server.
RESUMABLE_PART = 4 * PART


class GcsBackend:
    scheme = "gs"

    def __init__(self, *, project: str | None = None, endpoint: str | None = None,
                 credentials_json: str | None = None):
        options = {"api_endpoint": endpoint} if endpoint else None
        self.endpoint, self.signer = endpoint, None
        if credentials_json:
            info = json.loads(credentials_json) if credentials_json.lstrip().startswith("{") else None
            self.signer = (service_account.Credentials.from_service_account_info(info) if info
                           else service_account.Credentials.from_service_account_file(credentials_json))
        if credentials_json and not endpoint:
            self.client = storage.Client(project=project or self.signer.project_id, credentials=self.signer,
                                         client_options=options)
        elif endpoint:  # an emulator: no credentials for its API (the key, if any, only signs links)
            self.client = storage.Client(project=project or "local", credentials=AnonymousCredentials(),
                                         client_options=options)
        else:  # Application Default Credentials
            self.client = storage.Client(project=project, client_options=options)

    def _blob(self, location: Location):
        return self.client.bucket(location.bucket).blob(location.key)

    def _call(self, what: str, location: Location, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except gcs_errors.NotFound:
            raise NotFound(f"{what} {location}: no such object or bucket") from None
        except gcs_errors.PreconditionFailed:
            raise Changed(f"{what} {location}: the object changed while it was being read") from None
        except (gcs_errors.Forbidden, gcs_errors.Unauthorized) as error:
            raise AccessDenied(f"{what} {location}: access denied ({error.code})") from None
        except gcs_errors.GoogleAPIError as error:
            raise StorageError(f"{what} {location}: the store answered {type(error).__name__}") from None
        except OSError as error:
            raise StorageError(f"{what} {location}: cannot reach the store ({type(error).__name__})") from None

    def stat(self, location: Location, checksums: bool = False) -> ObjectInfo:
        # checksums: GCS gives its MD5 and CRC32C with every stat
        blob = self._call("stat", location, self.client.bucket(location.bucket).get_blob, location.key)
        if blob is None:
            raise NotFound(f"stat {location}: no such object")
        return ObjectInfo(
            size=blob.size or 0, version=str(blob.generation),
            md5=base64.b64decode(blob.md5_hash) if blob.md5_hash else None, md5_by_store=True,
            crc32c=base64.b64decode(blob.crc32c) if blob.crc32c else None,
            content_type=blob.content_type,
        )

    def open(self, location: Location, version: str | None = None, client_checks: bool = True) -> Iterator[bytes]:
        # client_checks: nothing to skip, this client checks no whole-object checksum on a chunked read
        # Pinned to a generation: once replaced, that generation is gone (404) — it changed.
        blob = self.client.bucket(location.bucket).blob(location.key, generation=int(version) if version else None)
        try:
            reader = self._call("read", location, blob.open, "rb", chunk_size=CHUNK,
                                 timeout=(TIMEOUTS["connect"], TIMEOUTS["read"]))
            try:
                while True:
                    chunk = self._call("read", location, reader.read, CHUNK)
                    if not chunk:
                        return
                    yield chunk
            finally:
                reader.close()
        except NotFound:
            if version is None:
                raise
            raise Changed(f"read {location}: generation {version} was replaced while being read") from None

    def presign(self, location: Location, expires_in: int) -> str:
        if self.signer is None and self.endpoint:
            raise StorageError(f"presign {location}: signing a download link needs service-account credentials "
                               "(read.credentials_json)")
        options = {"api_access_endpoint": self.endpoint} if self.endpoint else {}
        try:
            return self._blob(location).generate_signed_url(
                version="v4", expiration=timedelta(seconds=expires_in), method="GET",
                credentials=self.signer, **options)
        except AttributeError:
            raise StorageError(f"presign {location}: signing a download link needs service-account credentials "
                               "(read.credentials_json)") from None

    def copy(self, source: Location, target: Location) -> None:
        # Copying the same source onto the same target again gives the same object, so a dropped
        # connection is retried (the library only retries copies made conditional on a generation).
        bucket = self.client.bucket(source.bucket)
        self._call("copy", target, bucket.copy_blob, bucket.blob(source.key), self.client.bucket(target.bucket),
                   target.key, retry=DEFAULT_RETRY)

    def upload(self, location: Location, stream: BinaryIO, size: int, content_type: str) -> None:
        blob = self._blob(location)
        blob.chunk_size = RESUMABLE_PART  # a resumable upload, one part in memory at a time
        self._call("write", location, blob.upload_from_file, stream, size=size, content_type=content_type,
                   rewind=False, checksum=None)

    def delete(self, location: Location) -> None:
        self._call("delete", location, self._blob(location).delete)

    def probe_write(self, location: Location, data: bytes) -> None:
        self._call("write", location, self._blob(location).upload_from_string, data,
                   content_type="application/octet-stream")
