"""The one storage interface every backend implements, and the errors it speaks.

``stat``, streaming ``open``, ``presign``, ``copy``, streamed ``upload``, ``delete`` and ``probe_write`` — small
enough to implement three times (``s3.py``, ``azure.py``, ``gcs.py``). Errors are values a user
can act on: :class:`NotFound`, :class:`AccessDenied`, or :class:`StorageError` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator, Protocol

from app.storage.locations import Location

CHUNK = 1024 * 1024
# Seconds to wait for a store: to connect, and for the next bytes of an answer. A store that
# hangs mid-read (rather than refusing) fails the read after ``read``, and the check is retried.
# ``read`` is STORAGE_TIMEOUT_SECONDS (set by ``app.storage.init_app``).
TIMEOUTS = {"connect": 5.0, "read": 60.0}
PART = 8 * 1024 * 1024  # one part of a streamed upload; a few of them are all an upload holds


class StorageError(Exception):
    """The store refused or failed; ``str()`` says what and what to do, never a credential."""


class NotFound(StorageError):
    pass


class AccessDenied(StorageError):
    pass


class Changed(StorageError):
    """The object changed while it was being read (a newer version replaced it)."""


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    version: str | None = None         # ETag or generation: what a conditional read pins
    md5: bytes | None = None           # the store's own MD5 of the content, when it keeps one
    crc32c: bytes | None = None        # its CRC32C (4 bytes, big-endian): GCS's; S3's when uploaded with one
    content_type: str | None = None
    # True when the store computed that MD5 from the bytes it holds (S3's single-part ETag, GCS's
    # md5Hash): it proves what is stored, and hashing a download again re-checks only the transfer.
    # False when it is the uploader's claim, kept unchecked (Azure's Content-MD5).
    md5_by_store: bool = False
    # S3's checksums of the whole object, when it keeps them (an upload sent one; boto3 sends a
    # CRC32 by default): checked by the store on upload. Not those of a multipart upload's parts.
    crc32: bytes | None = None         # 4 bytes, big-endian
    sha256: bytes | None = None


class Backend(Protocol):
    scheme: str

    def stat(self, location: Location, checksums: bool = False) -> ObjectInfo:
        """The object's size, version and the checksums its store keeps. ``checksums=True`` also
        asks for the ones a store gives only on request (S3's whole-object CRC32, CRC32C and
        SHA-256: ``ChecksumMode``, which on an SSE-KMS object needs ``kms:Decrypt`` as a read
        does); an existence check leaves them out, so it needs no more than ``s3:GetObject``."""
        ...

    def open(self, location: Location, version: str | None = None, client_checks: bool = True) -> Iterator[bytes]:
        """The object's bytes in chunks of about :data:`CHUNK`; raises :class:`Changed` when
        ``version`` is given and the object is no longer that version. ``client_checks=False``:
        the caller holds the bytes against the store's checksums itself (verification), so the
        client library need not check them too (S3: botocore's CRC32)."""
        ...

    def presign(self, location: Location, expires_in: int) -> str: ...

    def copy(self, source: Location, target: Location) -> None: ...

    def delete(self, location: Location) -> None: ...

    def upload(self, location: Location, stream: BinaryIO, size: int, content_type: str) -> None:
        """Write ``size`` bytes read from ``stream`` (not seekable) in parts of :data:`PART`:
        S3 multipart, Azure blocks, a GCS resumable upload. Memory holds a few parts, whatever
        the size."""
        ...

    def probe_write(self, location: Location, data: bytes) -> None:
        """Write ``data`` — the one thing write-only (Sinch's) credentials may do."""
        ...
