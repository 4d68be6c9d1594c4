"""Sinch's own SDK fixtures for Voice Callback API v1 (``tests/fixtures/sinch-sdk``, copied from
``../shared/fixtures/sinch-sdk``; ``MANIFEST.txt`` names repository, commit and path of each).

Each fixture comes out as an :class:`SdkFixture`: the callbacks Sinch sends, and the SVAML the
SDKs build — whole documents, or one action or instruction, wrapped here in the smallest document
that carries it — with the callback it answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "fixtures" / "sinch-sdk"


@dataclass(frozen=True)
class SdkFixture:
    id: str            # file, and #n for the n-th fixture embedded in a source file
    role: str          # callback | svaml
    payload: dict      # the callback, or the whole SVAML document
    callback: str      # the event it is (callback) or answers (svaml): ice, ace, pie, dice, notify

    def __str__(self) -> str:
        return self.id


def _answers(test: str) -> str:
    """The callback a whole SVAML fixture answers, from its test's name."""
    lowered = test.lower()
    for kind in ("ace", "pie"):
        if f" {kind}" in lowered or f"{kind} " in lowered or f"handle{kind}" in lowered or f"field {kind}" in lowered:
            return kind
    return "ice"


def _wrapped(role: str, payload: dict) -> tuple[dict, str]:
    """An action or instruction alone, in a document for a callback that allows it."""
    if role == "svaml-instruction":
        return {"instructions": [payload], "action": {"name": "hangup"}}, "ice"
    return {"action": payload}, "ace" if payload.get("name") == "continue" else "ice"


def _verbatim(path: Path) -> list[SdkFixture]:
    name, data = path.relative_to(FOLDER).as_posix(), json.loads(path.read_text())
    base = path.name
    if base.startswith("CalloutRequest"):
        callout = data["customCallout"]
        return [SdkFixture(f"{name}#{kind}", "svaml", json.loads(callout[kind]), kind)
                for kind in ("ice", "ace") if callout.get(kind, "").startswith("{")]
    if base.startswith("SvamlAction") or base.startswith("SvamlInstruction"):
        doc, callback = _wrapped("svaml-action" if base.startswith("SvamlAction") else "svaml-instruction", data)
        return [SdkFixture(name, "svaml", doc, callback)]
    if base.startswith("Svaml"):
        return [SdkFixture(name, "svaml", data, "ice")]
    return [SdkFixture(name, "callback", data, data["event"])]


def _embedded(path: Path, data: dict) -> list[SdkFixture]:
    name, found = path.relative_to(FOLDER).as_posix(), []
    for index, fixture in enumerate(data["fixtures"]):
        role, payload = fixture["role"], fixture["payload"]
        if role == "callback":
            found.append(SdkFixture(f"{name}#{index}", "callback", payload, payload["event"]))
        elif role == "svaml":
            found.append(SdkFixture(f"{name}#{index}", "svaml", payload, _answers(fixture.get("test", ""))))
        else:
            doc, callback = _wrapped(role, payload)
            found.append(SdkFixture(f"{name}#{index}", "svaml", doc, callback))
    return found


def sdk_fixtures(role: str | None = None) -> list[SdkFixture]:
    found = []
    for path in sorted(FOLDER.glob("*/*.json")):
        data = json.loads(path.read_text())
        found += _embedded(path, data) if isinstance(data, dict) and "fixtures" in data else _verbatim(path)
    return [fixture for fixture in found if role is None or fixture.role == role]
