"""Where recordings live: locations, key templates and the storage backends.

:func:`reader` builds the service's own client for a destination (its ``read`` settings) and
:func:`writer` one with the write-only credentials handed to Sinch. This package is the only
place that imports boto3, azure-storage-blob or google-cloud-storage.
"""

from __future__ import annotations

from typing import Mapping

from app.storage.backend import TIMEOUTS, AccessDenied, Backend, Changed, NotFound, ObjectInfo, StorageError
from app.storage.locations import Location, LocationError, parse_connection_string, parse_location

READ_KEYS = {
    "s3": {"endpoint_url", "access_key", "secret_key", "region", "session_token"},
    "azure": {"connection_string", "account_url", "account_key", "sas_token"},
    "gs": {"endpoint", "project", "credentials_json", "xml_endpoint"},
}
GCS_XML_ENDPOINT = "https://storage.googleapis.com"

__all__ = ["AccessDenied", "Backend", "Changed", "Location", "LocationError", "NotFound", "ObjectInfo",
           "StorageError", "parse_location", "reader", "writer", "READ_KEYS"]


def init_app(app) -> None:
    """How long every store client waits for a store that hangs (STORAGE_TIMEOUT_SECONDS)."""
    TIMEOUTS["read"] = app.extensions["settings"].storage_timeout_seconds


def reader(scheme: str, read: Mapping[str, str]) -> Backend:
    """The service's own client for a destination, from its ``read`` settings."""
    read = {key: value for key, value in read.items() if value}
    if scheme == "s3":
        from app.storage.s3 import S3Backend

        return S3Backend(read.get("access_key"), read.get("secret_key"), read.get("region"),
                         read.get("endpoint_url"), read.get("session_token"))
    if scheme == "azure":
        from app.storage.azure import AzureBackend

        return AzureBackend(connection_string=read.get("connection_string"), account_url=read.get("account_url"),
                            account_key=read.get("account_key"), sas_token=read.get("sas_token"))
    if scheme == "gs":
        from app.storage.gcs import GcsBackend

        return GcsBackend(project=read.get("project"), endpoint=read.get("endpoint"),
                          credentials_json=read.get("credentials_json"))
    raise StorageError(f"unknown storage scheme {scheme!r}")


def writer(location: Location, sinch_credentials: str, read: Mapping[str, str]) -> Backend:
    """A client holding only what Sinch holds: the credentials written into the SVAML.

    S3 ``key:secret:region`` (at the read ``endpoint_url`` for S3-compatible stores), the Azure
    account key (at the read connection string's endpoint, for Azurite), a GCS HMAC
    ``key:secret`` through the S3-compatible XML API (``read.xml_endpoint``).
    """
    if location.scheme == "s3":
        from app.storage.s3 import S3Backend

        key, _, rest = sinch_credentials.partition(":")
        secret, _, region = rest.partition(":")
        return S3Backend(key, secret, region, read.get("endpoint_url") or None)
    if location.scheme == "azure":
        from app.storage.azure import AzureBackend

        endpoint = parse_connection_string(read.get("connection_string", "")).get("blobendpoint")
        return AzureBackend(account_url=endpoint or read.get("account_url") or None, account_name=location.account,
                            account_key=sinch_credentials)
    if location.scheme == "gs":
        from app.storage.s3 import S3Backend

        key, _, secret = sinch_credentials.partition(":")
        return S3Backend(key, secret, "auto", read.get("xml_endpoint") or GCS_XML_ENDPOINT)
    raise StorageError(f"unknown storage scheme {location.scheme!r}")
