"""The operator page's filter form (marshmallow): what the query string may hold."""

from __future__ import annotations

from datetime import datetime, time, timezone

from marshmallow import EXCLUDE, Schema, fields, post_load, validate

from app.api.schemas import Cursor
from app.recordings.status import STATUSES
from app.rules.decide import CONSENTS
from app.validation import Text


class RecordingFilters(Schema):
    """Empty fields mean "any"; dates are whole days in UTC (``until`` includes its day)."""

    class Meta:
        unknown = EXCLUDE

    status = fields.String(validate=validate.OneOf(STATUSES))
    call_id = Text(validate=validate.Length(max=256))
    rule_id = Text(validate=validate.Length(max=64))
    consent = fields.String(validate=validate.OneOf(CONSENTS))
    since = fields.Date(allow_none=True)
    until = fields.Date(allow_none=True)
    cursor = Cursor()

    def load(self, data, **kwargs):
        return super().load({name: value for name, value in data.items() if value != ""}, **kwargs)

    @post_load
    def _days(self, data, **kwargs):
        if data.get("since"):
            data["since"] = datetime.combine(data["since"], time.min, timezone.utc)
        if data.get("until"):
            data["until"] = datetime.combine(data["until"], time.max, timezone.utc)
        return data
