"""What the API takes and returns. Credentials are only ever taken in (``CopyArgs``, load-only),
never given out."""

from __future__ import annotations

import base64
import json

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.events.types import TYPES as EVENT_TYPES
from app.recordings import representation
from app.recordings.queries import BadCursor, decode_cursor, encode_cursor
from app.recordings.status import STATUSES
from app.rules.decide import CONSENTS
from app.validation import Moment, Text


class ErrorDetailSchema(Schema):
    code = fields.String(required=True, metadata={"description": "what went wrong, as a word: not_found, "
                                                                  "invalid_request, conflict …"})
    message = fields.String(required=True, metadata={"description": "what went wrong and what to do next"})
    fields = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), metadata={
        "description": "each invalid field (a dotted path) with what is wrong with it"})


class ErrorSchema(Schema):
    """Every error the service answers: ``{"error": {"code", "message", "fields"}}``."""

    error = fields.Nested(ErrorDetailSchema, required=True)


class RecordingSchema(representation.RecordingSchema):
    status = fields.String(metadata={"enum": list(STATUSES)})


class Cursor(fields.String):
    """An opaque keyset position: (requested_at, id) of the last row of the previous page."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else encode_cursor(value)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return decode_cursor(super()._deserialize(value, attr, data, **kwargs))
        except BadCursor as error:
            raise ValidationError(str(error)) from None


class RecordingListArgs(Schema):
    status = Text(validate=validate.OneOf(STATUSES))
    call_id = Text(validate=validate.Length(min=1, max=256))
    rule_id = Text(validate=validate.Length(min=1, max=64))
    consent = Text(validate=validate.OneOf(CONSENTS), metadata={
        "description": "how the call's consent question ended (timeout and no_answer are not a no)"})
    since = Moment(metadata={"description": "requested at or after (ISO-8601 with zone)"})
    until = Moment(metadata={"description": "requested before (ISO-8601 with zone)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = Cursor()


class PagingSchema(Schema):
    next_cursor = Cursor(allow_none=True)


class RecordingPageSchema(Schema):
    data = fields.List(fields.Nested(RecordingSchema))
    paging = fields.Nested(PagingSchema)


class RecordingListSchema(Schema):
    data = fields.List(fields.Nested(RecordingSchema))


class CallRecordingsSchema(RecordingListSchema):
    pauses = fields.List(fields.Nested("PauseSchema"), metadata={
        "description": "when the call's recording was paused and by whom: live control, or a sensitive menu "
                       "(reason 'sensitive input: menu <id>')"})


class DownloadArgs(Schema):
    expires_in = fields.Integer(load_default=900, validate=validate.Range(min=60, max=7 * 86400),
                                metadata={"description": "seconds the link stays valid (60 s to 7 days)"})


class DownloadSchema(Schema):
    url = fields.String()
    expires_at = fields.DateTime()


class StrictBoolean(fields.Boolean):
    """JSON true or false only, as the document says: not 1, "yes" or "on"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class HoldSchema(Schema):
    legal_hold = StrictBoolean(required=True)


class DeleteArgs(Schema):
    reason = Text(load_default="deleted through the API", validate=validate.Length(max=500))


class ControlArgs(Schema):
    action = Text(required=True, validate=validate.OneOf(("start", "stop", "pause", "resume")))
    reason = Text(validate=validate.Length(max=500))
    by = Text(load_default="api", validate=validate.Length(min=1, max=100),
                       metadata={"description": "who asks (kept in the call's log)"})


class PauseSchema(Schema):
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String(allow_none=True)
    by = fields.String()
    reason = fields.String(allow_none=True)


class ControlResultSchema(Schema):
    call_id = fields.String()
    action = fields.String()
    segment = fields.Integer(allow_none=True)
    recording = fields.Nested(RecordingSchema, allow_none=True)
    pauses = fields.List(fields.Nested(PauseSchema))


class CopyArgs(Schema):
    """Where to copy: a destination profile (``destination``, optional ``key``) or an explicit
    ``target`` URL with write ``credentials``. Credentials are used once and never stored."""

    destination = Text(validate=validate.Length(min=1, max=64),
                                metadata={"description": "a destination profile of the ruleset"})
    key = Text(validate=validate.Length(min=1, max=900),
                        metadata={"description": "the key in the profile's bucket (default: the source's key; "
                                                 "ending in / : a folder)"})
    target = Text(validate=validate.Length(min=6, max=1024),
                  metadata={"description": "s3://bucket/key, azure://account/container/blob or "
                                           "gs://bucket/object (ending in / : a folder)",
                            "pattern": "^(s3|gs)://[^/]+/|^azure://[^/]+/[^/]+/"})
    credentials = fields.Dict(keys=Text(), values=Text(), load_only=True, metadata={
        "description": "for target: S3 access_key, secret_key, region, endpoint_url, session_token; Azure "
                       "connection_string, account_url, account_key, sas_token; GCS credentials_json, endpoint, "
                       "project. Used for this copy only: never stored, logged or returned."})
    by = Text(load_default="api", validate=validate.Length(min=1, max=100),
                       metadata={"description": "who asks (kept in the job)"})

    @validates_schema
    def _one_target(self, data, **kwargs):
        if ("destination" in data) == ("target" in data):
            raise ValidationError("give either destination (a profile) or target (a URL with credentials)",
                                  "destination")
        if "key" in data and "destination" not in data:
            raise ValidationError("key goes with destination; put the key in the target URL instead", "key")
        if "target" in data and not data.get("credentials"):
            raise ValidationError("a target URL needs the credentials that write there", "credentials")
        if "credentials" in data and "destination" in data:
            raise ValidationError("a destination profile brings its own credentials; leave these out",
                                  "credentials")


class CopyJobSchema(Schema):
    id = fields.String()
    recording_id = fields.String()
    target_url = fields.String()
    destination = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": ["queued", "running", "succeeded", "failed"]})
    method = fields.String(allow_none=True, metadata={"enum": ["server_side", "streamed"]})
    bytes_total = fields.Integer(allow_none=True)
    bytes_done = fields.Integer()
    progress = fields.Method("_progress", metadata={"description": "0.0 to 1.0"})
    copy_id = fields.String(allow_none=True, metadata={"description": "the catalogued copy, once verified"})
    error = fields.String(allow_none=True)
    requested_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)

    def _progress(self, job) -> float:
        if job.status == "succeeded":
            return 1.0
        return round(min(job.bytes_done / job.bytes_total, 1.0), 4) if job.bytes_total else 0.0


class CopyJobListSchema(Schema):
    data = fields.List(fields.Nested(CopyJobSchema))


# --------------------------------------------------------------------------- events and webhooks


class EventCursor(fields.String):
    """An opaque position in the feed: after the event numbered N (``seq``)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return base64.urlsafe_b64encode(json.dumps(["e", value]).encode()).decode().rstrip("=")

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            tag, position = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            if tag != "e" or not isinstance(position, int) or isinstance(position, bool) or not 0 <= position < 2**62:
                raise ValueError("not ours")
            return position
        except (ValueError, TypeError, RecursionError):
            raise ValidationError("is not a feed cursor this service gave out; start again without it") from None


class EventSchema(Schema):
    id = fields.String(metadata={"description": "evt_…; a webhook's webhook-id"})
    type = fields.String(metadata={"enum": list(EVENT_TYPES)})
    timestamp = fields.String(metadata={"description": "when the change committed's transaction began (RFC 3339)"})
    data = fields.Dict(metadata={"description": "the recording as GET /api/v1/recordings/{id} shows it, or for "
                                                "call.consent the call's answer and what was asked"})


class EventListArgs(Schema):
    type = Text(validate=validate.Length(min=1, max=500), metadata={
        "description": "comma-separated types or globs (recording.*, call.consent)"})
    recording_id = Text(validate=validate.Length(min=1, max=32))
    call_id = Text(validate=validate.Length(min=1, max=256))
    since = Moment(metadata={"description": "events at or after (ISO-8601 with zone)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    cursor = EventCursor(metadata={"description": "paging.next_cursor of the page before"})


class FeedPagingSchema(Schema):
    next_cursor = EventCursor(metadata={"description": "where to read on from: always given, keep it and ask "
                                                       "again later for what happens next"})
    has_more = fields.Boolean(metadata={"description": "more events are waiting already"})


class EventPageSchema(Schema):
    data = fields.List(fields.Nested(EventSchema))
    paging = fields.Nested(FeedPagingSchema)


class AttemptSchema(Schema):
    number = fields.Integer()
    at = fields.DateTime()
    status_code = fields.Integer(allow_none=True, metadata={"description": "None: no answer"})
    duration_ms = fields.Integer()
    error = fields.String(allow_none=True, metadata={"description": "an excerpt of what went wrong"})


class DeliverySchema(Schema):
    endpoint = fields.String()
    status = fields.String(metadata={"enum": ["pending", "delivered", "failed"]})
    attempts = fields.List(fields.Nested(AttemptSchema))
    next_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


class EventDetailSchema(EventSchema):
    deliveries = fields.List(fields.Nested(DeliverySchema))


class RedeliveredSchema(Schema):
    event_id = fields.String()
    deliveries = fields.Integer(metadata={"description": "endpoints the event goes to again"})


class WebhookHealthSchema(Schema):
    name = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    last_success_at = fields.DateTime(allow_none=True)
    failing_since = fields.DateTime(allow_none=True, metadata={
        "description": "the first failed attempt after the last success (None: not failing)"})
    pending = fields.Integer(metadata={"description": "deliveries waiting"})
    oldest_pending_seconds = fields.Float(allow_none=True)
    failed = fields.Integer(metadata={"description": "deliveries given up on"})


class WebhookListSchema(Schema):
    data = fields.List(fields.Nested(WebhookHealthSchema))


# --------------------------------------------------------------------------- the transparency log

_LEAF = validate.Range(min=0, max=2**53)
_SIZE = validate.Range(min=1, max=2**53)
_B64 = {"description": "standard base64"}


class EvidenceKeySchema(Schema):
    log_id = fields.String(metadata={"description": "hex SHA-256 of the raw public key"})
    algorithm = fields.String(metadata={"enum": ["Ed25519"]})
    public_key = fields.String(metadata={"description": "the raw 32-byte Ed25519 public key, standard base64"})


class TreeHeadSchema(Schema):
    log_id = fields.String(required=True)
    tree_size = fields.Integer(required=True)
    timestamp = fields.Integer(required=True, metadata={"description": "milliseconds since the epoch"})
    root_hash = fields.String(required=True, metadata=_B64)
    signature = fields.String(required=True, metadata={
        "description": "Ed25519 over the RFC 8785 JSON of the other four fields, standard base64"})


class TreeHeadArgs(Schema):
    tree_size = fields.Integer(validate=_SIZE, metadata={"description": "a kept head's size"})


class EntriesArgs(Schema):
    start = fields.Integer(required=True, validate=_LEAF)
    end = fields.Integer(required=True, validate=_SIZE, metadata={
        "description": "exclusive; at most 1000 entries are given a call (none when end <= start)"})


class LeafSchema(Schema):
    leaf_index = fields.Integer()
    entry = fields.String(metadata={"description": "the exact bytes hashed (the event's RFC 8785 JSON), base64"})


class EntriesSchema(Schema):
    entries = fields.List(fields.Nested(LeafSchema))


class InclusionArgs(Schema):
    leaf_index = fields.Integer(required=True, validate=_LEAF)
    tree_size = fields.Integer(required=True, validate=_SIZE)


class InclusionSchema(Schema):
    leaf_index = fields.Integer()
    tree_size = fields.Integer()
    inclusion_path = fields.List(fields.String(metadata=_B64),
                                 metadata={"description": "RFC 9162 §2.1.3, lowest first"})


class ConsistencyArgs(Schema):
    first = fields.Integer(required=True, validate=_SIZE)
    second = fields.Integer(required=True, validate=_SIZE)


class ConsistencySchema(Schema):
    first = fields.Integer()
    second = fields.Integer()
    consistency_path = fields.List(fields.String(metadata=_B64), metadata={"description": "RFC 9162 §2.1.4"})


class BundleEntrySchema(LeafSchema):
    inclusion_path = fields.List(fields.String(metadata=_B64))


class BundleSchema(Schema):
    format = fields.String(metadata={"enum": ["sinch-recorder-evidence/1"]})
    recording = fields.Dict(metadata={"description": "what is claimed of the recording: id, call_id, "
                                                     "destination_url, status, sha256, size_bytes, duration_ms, "
                                                     "rule_id, ruleset_hash, consent"})
    entries = fields.List(fields.Nested(BundleEntrySchema))
    sth = fields.Nested(TreeHeadSchema)
    public_key = fields.String(metadata=_B64)
