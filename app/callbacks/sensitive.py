"""Sensitive input (card numbers, CVVs, PINs keyed into a menu): kept nowhere, recorded never.

Two pure jobs on the callback path, both driven by the ruleset's ``sensitive:`` setting
(:class:`app.rules.model.Sensitive`) and the call's stored state (``calls.sensitive``):

* **Redaction** (:func:`redaction`, :func:`redacted_body`, :func:`scrub`). Right after the
  signature is verified on the bytes Sinch sent, a PIE answering a sensitive menu has its
  ``menuResult.value`` replaced by ``"[redacted: N digits]"`` in the body and the event that the
  journal, the spool, the decision and the logs see. Only the sidecar's upstream gets the original
  bytes (it needs the digits); what its answer echoes of them is scrubbed from what we keep.
* **Pause and resume** (:func:`guard`). A reply that opens a sensitive menu while a recording runs
  gets ``stopRecording`` right before its ``runMenu``; the reply to the menu's PIE gets
  ``startRecording`` with the recording's own options (a new segment) right before its action,
  unless it opens another sensitive menu or hangs up.

A menu is sensitive when the ruleset names it or its ``maxDigits`` reaches ``min_digits``; the
call remembers the ids of the sensitive menus its replies opened, since a PIE names only its menu.
When the call's state cannot be read (the database is away), every keyed value is redacted.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.rules.model import Sensitive
from app.sinch import svaml

RULES, UPSTREAM = "rules", "upstream"  # whose recording runs: ours, or the sidecar upstream's own
FLAG = "flag"  # a recording made with the action's record flag: SVAML cannot stop it
MAX_REMEMBERED = 50  # sensitive menu ids a call remembers (a menu loop cannot grow the row)


def placeholder(value: str) -> str:
    return f"[redacted: {sum(c.isdigit() for c in value)} digits]"


def redaction(event: dict, policy: Sensitive, state: dict | None, *, state_known: bool = True) -> str | None:
    """What to keep instead of this PIE's ``menuResult.value``, or None to keep it as sent.

    A ``return`` result carries the app's own word (``return(accept)``), never keyed digits, and
    stays. A keyed value is redacted when its menu is named, was opened as sensitive on this call
    (``state["menus"]``), holds at least ``min_digits`` digits, or the call's state is unknown."""
    result = event.get("menu_result")
    value = _keyed(result)
    if not isinstance(value, str):
        return None
    menu = result.get("menu_id")
    if (not state_known or menu in policy.menus or menu in (state or {}).get("menus", ())
            or (policy.min_digits and sum(c.isdigit() for c in value) >= policy.min_digits)):
        return placeholder(value)
    return None


def _keyed(result) -> object | None:
    """A menu result's value when the caller keyed it (None when empty, or the app's own ``return``
    word)."""
    if not isinstance(result, dict) or str(result.get("type", "")).lower() == "return":
        return None
    value = result.get("value")
    return None if value is None or value == "" else value


def redacted_event(event: dict, replacement: str) -> dict:
    return {**event, "menu_result": {**event["menu_result"], "value": replacement}}


def redacted_body(body: bytes, replacement: str) -> bytes:
    """The PIE body as kept: the same JSON with ``menuResult.value`` replaced (not byte-exact any
    more; the journal row says it was verified on the original and then redacted)."""
    doc = json.loads(body)
    doc["menuResult"]["value"] = replacement
    return json.dumps(doc, separators=(",", ":")).encode()


def refused_body(body: bytes) -> bytes | None:
    """A body we refused (its signature, or not a callback we take) as it may be kept, when it
    carries keyed input: whatever it is, a ``menuResult.value`` that is not an app's ``return``
    word is redacted (None: nothing to redact). Such a body was never read as a PIE, so nothing
    says its menu is harmless."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = _keyed(doc.get("menuResult") if isinstance(doc, dict) else None)
    if value is None:
        return None
    doc["menuResult"]["value"] = placeholder(value if isinstance(value, str) else json.dumps(value))
    return json.dumps(doc, separators=(",", ":")).encode()


def scrub(value, secret: str):
    """``value`` (text, or JSON made of dicts and lists) with every run of ``secret``'s digits,
    however spaced or punctuated ("4111 1111 …", "4, 1, 1, 1"), replaced by its placeholder."""
    digits = [c for c in secret if c.isdigit()]
    if len(digits) < 3:
        return value
    pattern = re.compile(r"\D{0,3}".join(digits))
    shown = placeholder(secret)

    def walk(item):
        if isinstance(item, str):
            return pattern.sub(shown, item)
        if isinstance(item, dict):
            return {key: walk(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [walk(inner) for inner in item]
        return item
    return walk(value)


def sensitive_menus(doc: dict, policy: Sensitive) -> list[str]:
    """The ids of the sensitive menus this reply's ``runMenu`` opens (none for other actions)."""
    action = doc.get("action") or {}
    if action.get("name") != "runMenu":
        return []
    return [menu["id"] for menu in action.get("menus") or () if isinstance(menu, dict) and policy.covers(menu)]


@dataclass(frozen=True)
class Guarded:
    """A reply after :func:`guard`: the SVAML to send, the call's state to store (None: unchanged),
    the pause/resume entries for the call's control log, and what could not be done."""

    svaml: dict
    state: dict | None = None
    controls: tuple[dict, ...] = ()
    resumed: str | None = None      # whose recording this reply starts again (RULES or UPSTREAM)
    paused: str | None = None       # whose recording this reply pauses
    problem: str | None = None


def guard(doc: dict, kind: str, state: dict | None, policy: Sensitive, now: str, *,
          ours_running: bool = False, ours_started: bool = False, ours_flag: bool = False,
          resume_options: Callable[[str], dict | None] = lambda who: None,
          seal: Callable[[dict], str] | None = None) -> Guarded:
    """Pause the call's recording around the sensitive menus of reply ``doc`` (to ``kind``).

    ``state`` is the call's stored sensitive state: ``menus`` (ids remembered), ``upstream`` (the
    sealed options of the upstream's own recording, and whether it runs) and ``paused`` (since
    when, for which menu, whose recording). ``ours_running``: the rules' recording of this call
    runs as the reply begins (``ours_flag``: started with the action's ``record`` flag, which SVAML
    cannot stop); ``ours_started``: this reply's own ``startRecording`` is the rules'.
    ``resume_options(who)`` gives the options to record again with (None: cannot); ``seal``
    keeps the upstream's options (with their credentials) in the state only sealed."""
    if quiet(doc, state, ours_running, ours_started):
        return Guarded(doc)
    # Every change below assigns a new value to one of these keys (nothing stored is mutated), so
    # comparing with this shallow copy tells whether the state needs writing.
    state = {"menus": list((state or {}).get("menus", ())), "upstream": (state or {}).get("upstream"),
             "paused": (state or {}).get("paused")}
    before = dict(state)
    instructions, action = list(doc.get("instructions", ())), doc["action"]
    opens = sensitive_menus(doc, policy)
    controls: list[dict] = []
    running = (FLAG if ours_flag else RULES) if ours_running else (
        UPSTREAM if (state["upstream"] or {}).get("running") else None)
    resumed = paused_now = problem = None
    paused = state["paused"]
    if paused is not None and kind != "ice":  # the menu was answered: this reply comes after it
        if action.get("name") == "hangup":
            controls.append(_entry("stop", now, paused, "the call hangs up after the sensitive menu"))
            state["paused"], running = None, None
        elif not opens:
            state["paused"] = None
            if _starts(doc):  # the reply records again by itself
                controls.append(_entry("resume", now, paused))
            else:
                options = resume_options(paused["by"])
                if options is None:
                    problem = f"could not resume the {paused['by']}'s recording after menu {paused['menu']}"
                    controls.append(_entry("stop", now, paused, problem))
                else:
                    instructions.append(svaml.start_recording(options))
                    controls.append(_entry("resume", now, paused))
                    running, resumed = paused["by"], paused["by"]
    for instruction in doc.get("instructions", ()):
        if instruction.get("name") == "startRecording":
            running = RULES if ours_started else UPSTREAM
            if not ours_started and seal is not None:
                state["upstream"] = {"options": seal(instruction["options"]), "running": True}
        elif instruction.get("name") == "stopRecording":
            running = None
    if action.get("record"):
        running = FLAG
    if state["upstream"] is not None and running != UPSTREAM and not state["paused"]:
        state["upstream"] = {**state["upstream"], "running": False}
    if opens:
        state["menus"] = list(dict.fromkeys(state["menus"] + opens))[-MAX_REMEMBERED:]
        if running and policy.pause_recording and state["paused"] is None:
            if running == FLAG:
                problem = ("the record flag on the action cannot be stopped by SVAML: menu "
                           f"{opens[0]} is recorded")
            else:
                instructions.append(svaml.stop_recording())
                state["paused"] = {"menu": opens[0], "at": now, "by": running}
                controls.append(_entry("pause", now, state["paused"]))
                paused_now = running
    new = {"instructions": instructions, "action": action} if instructions else {"action": action}
    return Guarded(new if instructions != list(doc.get("instructions", ())) else doc,
                   state if state != before else None, tuple(controls), resumed, paused_now, problem)


def quiet(doc: dict, state: dict | None, ours_running: bool = False, ours_started: bool = False) -> bool:
    """The common reply, with nothing to guard: no sensitive state on the call, nothing of ours
    running, no menu, and no recording started but the rules' own (no copy, no state)."""
    return (not state and not ours_running and doc["action"].get("name") != "runMenu"
            and (ours_started or not _starts(doc)))


def _starts(doc: dict) -> bool:
    return bool(doc["action"].get("record")) or any(
        i.get("name") == "startRecording" for i in doc.get("instructions", ()))


def _entry(action: str, now: str, paused: dict, why: str | None = None) -> dict:
    """An entry of the call's control log (as live control writes them; ``pauses`` reads both)."""
    reason = f"sensitive input: menu {paused['menu']}" + (f" ({why})" if why else "")
    return {"action": action, "at": now, "by": f"sensitive-input ({paused['by']})", "reason": reason}


class Sealer:
    """Seals the upstream's recording options (credentials included) for the call's row, so that
    another process can record again after the menu while the database never holds them in
    clear: AES-256-GCM under a key derived (HKDF-SHA256) from the Sinch application's secret,
    which every process of the service has and the database does not."""

    INFO = b"sinch-recorder sensitive-input resume options v1"

    def __init__(self, secret: bytes):
        self._aead = AESGCM(HKDF(hashes.SHA256(), 32, salt=None, info=self.INFO).derive(secret))

    def seal(self, options: dict) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(options, separators=(",", ":")).encode(), None)
        return base64.b64encode(nonce + sealed).decode()

    def unseal(self, text: str) -> dict | None:
        """The options, or None when they cannot be opened (another secret: rotated)."""
        try:
            raw = base64.b64decode(text)
            return json.loads(self._aead.decrypt(raw[:12], raw[12:], None))
        except (InvalidTag, ValueError):
            return None
