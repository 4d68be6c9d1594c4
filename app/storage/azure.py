"""Azure Blob Storage (azure-storage-blob)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import BinaryIO, Iterator
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, ContentSettings, generate_blob_sas

from app.storage.backend import CHUNK, PART, TIMEOUTS, AccessDenied, Changed, NotFound, ObjectInfo, StorageError
from app.storage.locations import Location, parse_connection_string


def account_of(account_url: str) -> str | None:
    """The storage account an account URL names: ``https://NAME.blob.core.windows.net``, or the
    first path segment of an emulator's ``http://127.0.0.1:10000/NAME`` (a shared key needs it)."""
    parts = urlsplit(account_url)
    host = parts.hostname or ""
    if host.endswith(".blob.core.windows.net"):
        return host.split(".", 1)[0]
    return parts.path.strip("/").split("/", 1)[0] or None


class AzureBackend:
    scheme = "azure"

    def __init__(self, *, connection_string: str | None = None, account_url: str | None = None,
                 account_name: str | None = None, account_key: str | None = None, sas_token: str | None = None):
        options = {"max_single_get_size": CHUNK, "max_chunk_get_size": CHUNK, "max_single_put_size": PART,
                   "max_block_size": PART, "connection_timeout": TIMEOUTS["connect"], "read_timeout": TIMEOUTS["read"]}
        if connection_string:
            fields = parse_connection_string(connection_string)
            self.account_name, self.account_key = fields.get("accountname"), fields.get("accountkey")
            self.client = BlobServiceClient.from_connection_string(connection_string, **options)
        else:
            account_name = account_name or (account_of(account_url) if account_url else None)
            self.account_name, self.account_key = account_name, account_key
            url = account_url or f"https://{account_name}.blob.core.windows.net"
            credential = ({"account_name": account_name, "account_key": account_key} if account_key else sas_token)
            self.client = BlobServiceClient(url, credential=credential, **options)

    def _blob(self, location: Location):
        return self.client.get_blob_client(location.bucket, location.key)

    def _call(self, what: str, location: Location, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except ResourceNotFoundError as error:
            detail = "the container does not exist" if "ContainerNotFound" in str(error.error_code) else "no such object"
            raise NotFound(f"{what} {location}: {detail}") from None
        except ResourceModifiedError:
            raise Changed(f"{what} {location}: the object changed while it was being read") from None
        except ClientAuthenticationError as error:
            raise AccessDenied(f"{what} {location}: the account key or SAS was refused ({error.error_code})") from None
        except HttpResponseError as error:
            if error.status_code == 403:
                raise AccessDenied(f"{what} {location}: access denied ({error.error_code})") from None
            raise StorageError(f"{what} {location}: the store answered {error.status_code} ({error.error_code})") from None
        except AzureError as error:
            raise StorageError(f"{what} {location}: cannot reach the store ({type(error).__name__})") from None

    def stat(self, location: Location, checksums: bool = False) -> ObjectInfo:
        # checksums: Azure gives its Content-MD5 with every stat, and keeps no other
        properties = self._call("stat", location, self._blob(location).get_blob_properties)
        settings = properties.content_settings
        md5 = bytes(settings.content_md5) if settings and settings.content_md5 else None
        return ObjectInfo(size=properties.size, version=properties.etag, md5=md5,
                          content_type=settings.content_type if settings else None)

    def open(self, location: Location, version: str | None = None, client_checks: bool = True) -> Iterator[bytes]:
        # client_checks: nothing to skip, this client checks no whole-object checksum on a chunked read
        kwargs = {"etag": version, "match_condition": MatchConditions.IfNotModified} if version else {}
        downloader = self._call("read", location, self._blob(location).download_blob, **kwargs)
        chunks = downloader.chunks()
        while True:
            chunk = self._call("read", location, next, chunks, None)
            if chunk is None:
                return
            yield chunk

    def presign(self, location: Location, expires_in: int) -> str:
        if not self.account_key:
            raise StorageError(f"presign {location}: signing a download link needs the account key")
        token = generate_blob_sas(
            self.account_name, location.bucket, location.key, account_key=self.account_key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(timezone.utc) + timedelta(seconds=expires_in))
        return f"{self._blob(location).url}?{token}"

    def copy(self, source: Location, target: Location) -> None:
        source_url = self.presign(source, 3600)
        self._call("copy", target, self._blob(target).start_copy_from_url, source_url, requires_sync=True)

    def upload(self, location: Location, stream: BinaryIO, size: int, content_type: str) -> None:
        self._call("write", location, self._blob(location).upload_blob, stream, length=size, overwrite=True,
                   max_concurrency=4, content_settings=ContentSettings(content_type=content_type))

    def delete(self, location: Location) -> None:
        self._call("delete", location, self._blob(location).delete_blob)

    def probe_write(self, location: Location, data: bytes) -> None:
        self._call("write", location, self._blob(location).upload_blob, data, overwrite=True,
                   content_settings=ContentSettings(content_type="application/octet-stream"))
