"""A recording as the outside world sees it: the API's answer, an event's data, a webhook's body.

One schema for all three, in the catalogue's room (the API, the CLI and the event log import it;
it knows no HTTP). Nothing secret is in a recording row, so nothing secret is in it. It imports
nothing of the status machine, which writes an event with it on every move.
"""

from __future__ import annotations

from marshmallow import Schema, fields
from sqlalchemy import select

from app.recordings.models import Recording


class RecordingSchema(Schema):
    id = fields.String()
    call_id = fields.String()
    conference_id = fields.String(allow_none=True)
    segment = fields.Integer()
    status = fields.String()  # the API's document lists the values (app.api.schemas)
    rule_id = fields.String(allow_none=True)
    ruleset_hash = fields.String(allow_none=True, metadata={
        "description": "the hash of the ruleset that decided it, as flask rules check prints it"})
    destination_url = fields.String()
    format = fields.String()
    size_bytes = fields.Integer(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    sha256 = fields.String(allow_none=True)
    content_type = fields.String(allow_none=True)
    requested_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    available_at = fields.DateTime(allow_none=True)
    verified_at = fields.DateTime(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    pending_reason = fields.String(allow_none=True, metadata={
        "description": "While not final: the last problem a verification retry met (cleared when final)"})
    transcription_url = fields.String(allow_none=True)
    retain_until = fields.DateTime(allow_none=True)
    legal_hold = fields.Boolean()
    deletion = fields.Dict(allow_none=True, metadata={"description": "the receipt: at, by, reason, sha256"})
    copied_from = fields.String(allow_none=True, metadata={"description": "the recording this is a copy of"})


_schema = RecordingSchema()
_table = Recording.__table__
# What a row holds before anything but its insert wrote it (the columns' defaults).
_UNSET = {name: None for name in RecordingSchema._declared_fields} | {"legal_hold": False}


def shown(row) -> dict:
    """A recording row (a mapping, an ORM object, or the values of its insert) as the API shows it."""
    if isinstance(row, dict):
        row = _UNSET | row
    return _schema.dump(row)


def shown_by_id(connection, recording_id: str) -> dict | None:
    row = connection.execute(select(_table).where(_table.c.id == recording_id)).mappings().first()
    return None if row is None else shown(dict(row))
