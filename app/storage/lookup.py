"""Which client reads a catalogued file, and which service a place belongs to.

The API, the operator page, the CLI and the worker all ask the same two questions; the answers
live here, beside the backends, so none of them borrows from another room.
"""

from __future__ import annotations

from typing import Mapping

from app.storage import Backend, Location, StorageError, parse_connection_string, parse_location, reader


def read_settings(ruleset, row: Mapping) -> dict:
    """How the service reads a catalogued file: the ``read`` of its destination (or of one on the
    same bucket or container, for a recording no rule asked for)."""
    location = parse_location(row["destination_url"])
    destination = ruleset.destinations.get(row["destination"] or "")
    if destination is None:
        container = f"{location.account}/{location.bucket}" if location.scheme == "azure" else location.bucket
        destination = next((d for d in ruleset.destinations.values()
                            if d.scheme == location.scheme and d.url.container == container), None)
    if destination is None:
        raise StorageError(f"no destination in the ruleset reads {location.scheme}://"
                           f"{location.account + '/' if location.account else ''}{location.bucket}; add one with a "
                           "read: section for it")
    return dict(destination.read)


def read_backend(ruleset, row: Mapping) -> tuple[Backend, Location]:
    """The service's client for a catalogued file (a row with ``destination_url`` and
    ``destination``), and where the file is."""
    location = parse_location(row["destination_url"])
    return reader(location.scheme, read_settings(ruleset, row)), location


def recording_backend(ruleset, recording) -> tuple[Backend, Location]:
    """:func:`read_backend` for a recording object (the API, the page, the CLI)."""
    return read_backend(ruleset, {"destination_url": recording.destination_url, "destination": recording.destination})


def service_of(location: Location, read: Mapping[str, str]) -> tuple:
    """Which service holds ``location``: two places on the same one can copy server-side."""
    if location.scheme == "s3":
        return ("s3", (read.get("endpoint_url") or "aws").rstrip("/"))
    if location.scheme == "azure":
        endpoint = parse_connection_string(read.get("connection_string") or "").get("blobendpoint")
        return ("azure", location.account, (endpoint or read.get("account_url") or "azure").rstrip("/"))
    return ("gs", (read.get("endpoint") or "google").rstrip("/"))
