"""Live control of a call's recording: start, stop, pause, resume (PCI pauses, say).

Each action is a Manage Call PATCH to Sinch with ``startRecording`` or ``stopRecording`` and
``continue``. Pause and stop end the current segment at once (it becomes ``paused`` or
``stopped``, then Sinch delivers it as usual), so a second stop is refused without asking Sinch;
resume and start open a new segment under a new key. Every request is logged with the call —
who asked, why, when, which segment — so pause intervals can be shown for the record.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select, update

from app.recordings import status
from app.recordings.catalogue import append_controls, new_recording, next_segment
from app.recordings.models import Call, Recording
from app.rules.decide import recording_part
from app.rules.engine import Facts
from app.sinch import svaml
from app.sinch.client import ManageCallClient, SinchApiError
from app.sinch.svaml import render

_calls, _recordings = Call.__table__, Recording.__table__


class ControlError(Exception):
    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code, self.message = status_code, message


@dataclass
class ControlResult:
    action: str
    segment: int | None
    recording_id: str | None


def control(engine, ruleset, settings, client: ManageCallClient, call_id: str, action: str, *,
            by: str, reason: str | None) -> ControlResult:
    now = datetime.now(timezone.utc)
    with engine.connect() as connection:
        call = connection.execute(select(_calls).where(_calls.c.call_id == call_id)).mappings().first()
        active = connection.execute(select(_recordings).where(
            _recordings.c.call_id == call_id, _recordings.c.status == status.REQUESTED)
            .order_by(_recordings.c.segment.desc())).mappings().first()
        segment = next_segment(connection, call_id)
    if call is None:
        raise ControlError(404, f"no call {call_id} here: only calls this service answered can be controlled")
    if call["ended_at"] is not None:
        raise ControlError(409, f"call {call_id} has ended")
    secret = settings.applications.get(call["application_key"] or "")
    if secret is None:
        raise ControlError(409, "the call's application key is not configured here; Sinch needs it to sign the request")
    starting = action in ("start", "resume")
    if starting and active is not None:
        raise ControlError(409, f"call {call_id} is already being recorded (segment {active['segment']})")
    if not starting and active is None:
        raise ControlError(409, f"call {call_id} is not being recorded now")
    part = None
    if starting:
        rule = ruleset.rule(call["rule_id"] or "")
        if rule is None or rule.record is None or not call["facts"]:
            raise ControlError(409, f"the rule of call {call_id} records nowhere; give it a record: destination")
        facts = Facts.from_record(call["facts"], "ice")
        part = recording_part(rule, rule.record, facts, ruleset, now, lambda: uuid.uuid4().hex,
                              segment=segment)
        doc = svaml.svaml(svaml.continue_(), svaml.start_recording(part.options))
    else:
        doc = svaml.svaml(svaml.continue_(), svaml.stop_recording())
    render(doc, "manage")
    try:
        client.update(call_id, call["resource_url"], doc, call["application_key"], secret)
    except SinchApiError as error:
        code = {40400: 404, 40003: 409, 40001: 409, 40002: 409}.get(error.code, 502)
        raise ControlError(code, f"{action} of call {call_id}: {error}")
    entry = {"action": action, "at": now.isoformat(), "by": by, "reason": reason,
             "segment": part.segment if part else active["segment"]}
    recording_id = None
    with engine.begin() as connection:
        if part is not None:
            recording_id = new_recording(connection, call_id=call_id, segment=part.segment, rule_id=call["rule_id"],
                                         ruleset_hash=call["ruleset_hash"], destination=part.destination,
                                         destination_url=part.url, format=part.format, mode="instruction",
                                         requested_at=now, retain_days=part.retain_days,
                                         announced="recording.resumed" if action == "resume" else None)
            decision = dict(call["decision"] or {})
            decision["destination_keys"] = list(decision.get("destination_keys") or []) + [part.url]
            connection.execute(update(_calls).where(_calls.c.call_id == call_id).values(decision=decision))
        else:  # pause or stop: the segment is over now, whatever Sinch delivers later
            status.move(connection, active["id"], status.PAUSED if action == "pause" else status.STOPPED)
            recording_id = active["id"]
        append_controls(connection, call_id, [entry])
    return ControlResult(action, entry["segment"], recording_id)


def pauses(controls: list[dict] | None) -> list[dict]:
    """Pause intervals from the control log: ``{"from", "to", "by", "reason"}`` (``to`` None: still paused)."""
    intervals: list[dict] = []
    for entry in controls or []:
        if entry["action"] == "pause":
            intervals.append({"from": entry["at"], "to": None, "by": entry["by"], "reason": entry["reason"]})
        elif entry["action"] in ("resume", "stop") and intervals and intervals[-1]["to"] is None:
            intervals[-1]["to"] = entry["at"]
    return intervals
