"""Adding the rules' recording to someone else's SVAML — a pure function.

The announcement and ``startRecording`` go after the upstream's own instructions, right before
its action (so its prompts are not recorded); the ``record`` flag is used where instructions
cannot record (``connectMxp``) or the rule asks for it (``connectConf`` conference recording).
Nothing is added when the upstream already records, or when its action connects nothing yet
(a menu, a hang-up): the recording then waits for a later reply of the same call.
"""

from __future__ import annotations

from app.rules.decide import PlannedRecording, RecordingPart
from app.sinch.svaml import RECORDING_FLAG_ACTIONS

CONNECTING = {"connectPstn", "connectSip", "connectMxp", "connectConf", "continue"}


def already_records(doc: dict) -> bool:
    return bool(doc["action"].get("record")) or any(
        i.get("name") == "startRecording" for i in doc.get("instructions", []))


def merge(doc: dict, part: RecordingPart) -> tuple[dict, PlannedRecording | None, str]:
    """``(merged SVAML, the recording it starts or None, what was done)``."""
    action = doc["action"]
    name = action["name"]
    if already_records(doc):
        return doc, None, "the upstream already records this call; nothing added"
    if name not in CONNECTING:
        return doc, None, f"{name} connects nothing yet; recording waits for a later reply"
    flag = name == "connectMxp" or (part.mode in ("flag", "conference") and name in RECORDING_FLAG_ACTIONS)
    instructions = list(doc.get("instructions", [])) + list(part.announce)
    if flag:
        action = {**action, "record": True, "recordingOptions": part.options}
    else:
        instructions.append({"name": "startRecording", "options": part.options})
    merged = {"instructions": instructions, "action": action} if instructions else {"action": action}
    mode = "conference" if flag and name == "connectConf" and part.mode == "conference" else (
        "flag" if flag else "instruction")
    how = "record flag on " + name if flag else "startRecording before " + name
    return merged, part.planned(mode, action.get("conferenceId")), how
