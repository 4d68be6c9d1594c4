"""``flask destinations check``: can Sinch write there, and can we read it back?

Writes a small probe object with the credentials Sinch gets (the SVAML ones), reads it back
with the service's own read credentials, compares, deletes it, and also tells when Sinch's
credentials can read (they should be write-only). Each failure comes with what to do.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from app.rules.model import Destination
from app.storage import AccessDenied, NotFound, StorageError, parse_location, reader, writer


@dataclass
class Step:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    destination: str
    location: str
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps if step.name != "least privilege")


def _advice(error: StorageError, who: str) -> str:
    text = str(error)
    if isinstance(error, AccessDenied):
        return (f"{text}. Give {who} permission for this bucket/container and prefix, check the key pair, and "
                "check that the bucket exists (stores answer AccessDenied for a missing bucket to callers "
                "that may not list buckets)")
    if isinstance(error, NotFound):
        return f"{text}. Create the bucket/container, or fix the destination url"
    return f"{text}. Check the endpoint, the network and this machine's clock"


def check_destination(destination: Destination, now: datetime | None = None) -> Report:
    now = now or datetime.now(timezone.utc)
    token = uuid.uuid4().hex
    key = destination.url.fill({"callid": f"preflight-{token[:8]}", "segment": 0, "uuid": token, "rule": "preflight",
                                "cli": "", "to": "", "format": destination.format}, now)
    location = parse_location(key)
    report = Report(destination.name, location.uri)
    payload = f"sinch-recorder preflight {token}\n".encode()
    if destination.sinch_credentials:
        who, probe = "Sinch's credentials", writer(location, destination.sinch_credentials, destination.read)
    else:  # a copy target: the service writes here, Sinch never does
        who = "the copy credentials (write:)" if destination.write else "the read: credentials (no write: section)"
        probe = reader(destination.scheme, destination.copy_credentials)
    try:
        probe.probe_write(location, payload)
        report.steps.append(Step(f"write with {who}", True, f"wrote {len(payload)} bytes"))
    except StorageError as error:
        report.steps.append(Step(f"write with {who}", False, _advice(error, who)))
        return report
    service = reader(destination.scheme, destination.read)
    try:
        content = b"".join(service.open(location))
        same = content == payload
        report.steps.append(Step("read back with the service's credentials", same,
                                 "content matches" if same else "the content read back differs from what was written"))
    except StorageError as error:
        report.steps.append(Step("read back with the service's credentials", False,
                                 _advice(error, "the service's read credentials")))
    if destination.sinch_credentials:
        try:
            probe.stat(location)
            report.steps.append(Step("least privilege", False, "Sinch's credentials can also read this bucket; "
                                                               "Sinch needs write access only"))
        except StorageError:
            report.steps.append(Step("least privilege", True,
                                     "Sinch's credentials cannot read (write-only, as they should be)"))
    try:
        service.delete(location)
        report.steps.append(Step("delete the probe", True, "deleted"))
    except StorageError as error:
        report.steps.append(Step("delete the probe", False, f"{error}; delete {location.uri} by hand and allow the "
                                                            "service's credentials to delete (needed for retention)"))
    return report
