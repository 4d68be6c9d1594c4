"""Where an object is: parsing ``s3://``, ``azure://``, ``gs://`` URIs and their https forms.

Sinch's ``recording_available`` may name the file by the storage URI that was configured or by
an https URL (reference §3.7); both parse to the same :class:`Location`, whose ``uri`` is the
canonical form the catalogue stores and matches on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SCHEMES = ("s3", "azure", "gs")

_S3_VIRTUAL = re.compile(r"^(?P<bucket>.+)\.s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com$")
_S3_PATH = re.compile(r"^s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com$")
_AZURE = re.compile(r"^(?P<account>[a-z0-9]+)\.blob\.core\.windows\.net$")
_GCS_VIRTUAL = re.compile(r"^(?P<bucket>.+)\.storage\.googleapis\.com$")


class LocationError(ValueError):
    pass


@dataclass(frozen=True)
class Location:
    scheme: str               # s3 | azure | gs
    bucket: str               # the bucket, or the Azure container
    key: str                  # the object key / blob name
    account: str | None = None  # the Azure storage account

    @property
    def uri(self) -> str:
        if self.scheme == "azure":
            return f"azure://{self.account}/{self.bucket}/{self.key}"
        return f"{self.scheme}://{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return self.uri


def parse_location(text: str) -> Location:
    """A :class:`Location` from a storage URI or an https URL of S3, Azure Blob or GCS."""
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme in SCHEMES:
        path = unquote(parts.path.lstrip("/"))
        if scheme == "azure":
            container, _, key = path.partition("/")
            location = Location("azure", container, key, parts.netloc)
        else:
            location = Location(scheme, parts.netloc, path)
    elif scheme in ("https", "http"):
        location = _from_https(parts.hostname or "", unquote(parts.path.lstrip("/")))
    else:
        raise LocationError(f"'{text}' is not an s3://, azure://, gs:// or https storage URL")
    if not location.bucket or not location.key or (location.scheme == "azure" and not location.account):
        raise LocationError(f"'{text}' names no object (bucket/container and key are needed)")
    if _CONTROL.search(location.key) or any(part in (".", "..") for part in location.key.split("/")):
        raise LocationError(f"'{text}' names no object: its key has a control character or a '.'/'..' segment "
                            "(decoded), which stores read differently")
    return location


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _from_https(host: str, path: str) -> Location:
    host = host.lower()
    if match := _S3_VIRTUAL.match(host):
        return Location("s3", match.group("bucket"), path)
    if _S3_PATH.match(host):
        bucket, _, key = path.partition("/")
        return Location("s3", bucket, key)
    if match := _AZURE.match(host):
        container, _, key = path.partition("/")
        return Location("azure", container, key, match.group("account"))
    if host == "storage.googleapis.com":
        bucket, _, key = path.partition("/")
        return Location("gs", bucket, key)
    if match := _GCS_VIRTUAL.match(host):
        return Location("gs", match.group("bucket"), path)
    raise LocationError(f"'{host}' is not an S3, Azure Blob or Google Cloud Storage host")


def parse_connection_string(text: str) -> dict[str, str]:
    """An Azure connection string's fields, names lower-cased (``blobendpoint``, ``accountname`` …)."""
    return {k.lower(): v for k, _, v in (part.partition("=") for part in text.split(";") if "=" in part)}
