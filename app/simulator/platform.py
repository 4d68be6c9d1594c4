"""A local Sinch platform: plays one call against a running service the way Sinch would.

* sends a signed ICE (fresh ``x-timestamp``) and judges the SVAML reply with its own JSON Schema,
  written from Sinch's docs and SDK models (:mod:`app.simulator.svaml_schema`), not with the
  service's check; an invalid reply is reported as Sinch does, with a ``callingerror`` 40001
  notify. With ``SINCH_SIMULATOR_CROSSCHECK`` set (the test suite sets it) every reply is also
  put to the service's check, and a disagreement between the two raises :class:`Disagreement`;
* executes it: prompts are skipped, ``runMenu`` → PIE with the pressed digits (or a timeout),
  ``connectPstn``/``connectSip`` → ACE, and the call lasts ``duration`` seconds (simulated time).
  A menu is answered with the next of the call's presses (the last one answers any further
  menus): an option ``menu(id)`` moves to that menu of the same ``runMenu`` with the next press,
  as Sinch does without a callback, and input ends on ``#`` (not part of the value) or at
  ``maxDigits``. Each key takes ``KEY_SECONDS`` of call time and sounds as its DTMF tone in any
  recording running while it is pressed;
* keeps call time: the ICE's reply acts at 0 s, the ACE's once the callee answers (``ring``
  seconds later), a PIE's when the menu is answered; the call ends ``duration`` seconds after
  it was answered. A segment runs from the reply that starts it (``startRecording`` or the
  ``record`` flag) to the reply with ``stopRecording`` or the call's end, and its file is a real
  audio file of that length in the requested format, uploaded to ``destinationUrl`` with only
  the credentials in the SVAML (Sinch's default file name when the URL names none);
* ends with DiCE (with ``debit`` and ``userRate``), then per file ``recording_finished`` and —
  only once its upload succeeded — ``recording_available`` (and ``transcription_available`` with a
  small JSON transcript when transcription was asked); ``notificationEvents: false`` sends none;
* misbehaves on request, like a real network (:class:`Misbehaviour`).

Storage endpoints are the simulator's own settings (an emulator's address): Sinch's
credentials say who may write, not where the emulator listens.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import requests

from app.simulator.audio import audio
from app.simulator.svaml_schema import verdict
from app.sinch.events import guess_to_type
from app.sinch.signing import sign
from app.sinch.svaml import SvamlError, render
from app.storage import StorageError, parse_location, reader, writer


@dataclass(frozen=True)
class Endpoints:
    """Where the storage emulators listen (empty: the real clouds)."""

    s3: str | None = None
    azure: str | None = None    # blob endpoint, e.g. http://127.0.0.1:10000/devstoreaccount1
    gcs: str | None = None      # an emulator's JSON API (it checks no HMAC signatures)
    gcs_xml: str | None = None  # an S3-compatible server standing in for GCS's XML API: gs:// files are
                                # then written as Sinch writes them, with the SVAML's HMAC key (checked)


@dataclass(frozen=True)
class Misbehaviour:
    duplicate_notifies: bool = False   # every notify twice
    reorder_notifies: bool = False     # recording_available before recording_finished
    late_availability: bool = False    # recording_available before the file is uploaded
    missing_available: bool = False    # recording_available never sent
    empty_upload: bool = False         # a zero-byte file
    wrong_signature: bool = False      # signed with the wrong secret
    upload_format: str | None = None   # write this format whatever was requested (mp3 | wav)
    slow_sender: float = 0.0           # seconds between the chunks of each request body


@dataclass(frozen=True)
class CallSpec:
    cli: str = "+46701234567"
    to: str = "+46812345678"
    domain: str = "pstn"               # pstn | mxp
    to_type: str | None = None         # number | did | username | sip; None: guessed from ``to``
    press: str | tuple[str, ...] | None = None
                                       # the keys answering each menu in turn (one string: every
                                       # menu); None: no input (timeout); "hangup": the caller hangs
                                       # up while the menu plays (no PIE)
    duration: float = 5.0              # seconds from the answer to the end of the call
    ring: float = 0.0                  # seconds from the ICE's reply to the callee answering (ACE)
    call_id: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    custom: str | None = None          # the ICE's custom field, when the call carries one
    rdnis: str | None = None           # redirected dialled number (inbound PSTN), when known
    minimal_finished: bool = False     # recording_finished without destination (the docs' minimal shape)
    misbehave: Misbehaviour = Misbehaviour()


@dataclass
class Exchange:
    event: str
    status: int
    millis: float
    reply: dict | None = None
    problem: str | None = None


@dataclass
class Upload:
    uri: str
    size: int
    sha256: str
    format: str
    transcript: str | None = None


@dataclass
class CallReport:
    call_id: str
    exchanges: list[Exchange] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    caller_hung_up: bool = False        # during a menu: the DiCE says CALLERHANGUP, unanswered
    clock: float = 0.0                  # the call's time, in seconds since the ICE
    keys: list[tuple[float, str]] = field(default_factory=list)  # (call time, key) of each key pressed
    menus_answered: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def reply_millis(self, event: str = "ice") -> list[float]:
        return [e.millis for e in self.exchanges if e.event == event]


_DEFAULT_NAME = "{stamp}_{key}_{callid}.{format}"  # reference §3.4
KEY_SECONDS = 0.5  # a caller keys two digits a second


class Disagreement(AssertionError):
    """The simulator's schema and the service's check judged one reply differently."""


def judge(reply, kind: str) -> list[str]:
    """The platform's verdict on a reply: what its own schema refuses ([]: taken). Crosschecked
    against the service's check when ``SINCH_SIMULATOR_CROSSCHECK`` is set."""
    refused = verdict(reply, kind)
    if os.environ.get("SINCH_SIMULATOR_CROSSCHECK"):
        try:
            render(reply, kind)
            service = []
        except SvamlError as error:
            service = [str(error)]
        if bool(refused) != bool(service):
            raise Disagreement(f"{kind} reply {json.dumps(reply)[:500]}: the simulator's schema says "
                               f"{refused or 'valid'}, the service's check says {service or 'valid'}")
    return refused


class Platform:
    def __init__(self, target: str, key: str, secret: str, *, endpoints: Endpoints = Endpoints(),
                 timeout: float = 10.0, session: requests.Session | None = None):
        self.target, self.key, self.secret = target, key, secret
        self.path = requests.utils.urlparse(target).path or "/"
        self.endpoints, self.timeout = endpoints, timeout
        self.http = session or requests.Session()

    # ------------------------------------------------------------------ HTTP

    def post(self, report: CallReport, body: dict, spec: CallSpec) -> Exchange:
        raw = json.dumps(body, separators=(",", ":")).encode()
        secret = "d3Jvbmctc2VjcmV0LWZvci10ZXN0cw==" if spec.misbehave.wrong_signature else self.secret
        headers = sign(self.key, secret, method="POST", path=self.path, body=raw)
        data = _slowly(raw, spec.misbehave.slow_sender) if spec.misbehave.slow_sender else raw
        started = time.perf_counter()
        try:
            response = self.http.post(self.target, data=data, headers=headers, timeout=self.timeout)
        except requests.RequestException as error:
            exchange = Exchange(body["event"], 0, (time.perf_counter() - started) * 1000,
                                problem=f"{body['event']}: no answer ({type(error).__name__})")
            report.exchanges.append(exchange)
            report.problems.append(exchange.problem)
            return exchange
        millis = (time.perf_counter() - started) * 1000
        reply = None
        if response.content:
            try:
                reply = response.json()
            except ValueError:
                reply = None
        exchange = Exchange(body["event"], response.status_code, millis, reply)
        if response.status_code != 200:
            exchange.problem = f"{body['event']}: HTTP {response.status_code} {response.text[:200]}"
            report.problems.append(exchange.problem)
        report.exchanges.append(exchange)
        return exchange

    # ------------------------------------------------------------------ a call

    def call(self, spec: CallSpec) -> CallReport:
        call_id = spec.call_id or uuid.uuid4().hex
        report = CallReport(call_id)
        started = datetime.now(timezone.utc)
        recordings: list[dict] = []  # {"options", "conference", "from", "to"}: seconds of call time
        ice = self.post(report, self._ice(call_id, spec, started), spec)
        answered = False
        if ice.status == 200:
            answered = self._run(report, spec, call_id, "ice", ice.reply, recordings)
        duration = int(spec.duration) if answered else 0
        end = report.clock + duration
        self.post(report, {"event": "dice", "callid": call_id, "timestamp": _stamp(), "version": 1,
                           "reason": "CALLERHANGUP" if answered or report.caller_hung_up else "MANAGERHANGUP",
                           "result": "ANSWERED" if answered else "FAILED", "duration": duration,
                           "debit": {"currencyId": "EUR", "amount": round(0.01 * duration / 60, 4)},
                           "userRate": {"currencyId": "EUR", "amount": 0.01},
                           "from": spec.cli, "to": self._to(spec), "applicationKey": self.key}, spec)
        for segment in recordings:
            length = max((segment["to"] if segment["to"] is not None else end) - segment["from"], 0)
            self._finish_recording(report, spec, call_id, segment, started, length if answered else 0)
        return report

    def _ice(self, call_id: str, spec: CallSpec, started: datetime) -> dict:
        body = {"event": "ice", "callid": call_id, "timestamp": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "version": 1, "cli": spec.cli, "to": self._to(spec),
                "domain": "mxp" if spec.domain == "mxp" else "pstn",
                "originationType": "MXP" if spec.domain == "mxp" else "PSTN", "applicationKey": self.key,
                "callResourceUrl": f"https://calling-euc1.api.sinch.com/calling/v1/calls/id/{call_id}",
                "userRate": {"currencyId": "EUR", "amount": 0.01}}
        if spec.headers:
            body["callHeaders"] = [{"key": k, "value": v} for k, v in spec.headers]
        if spec.custom is not None:
            body["custom"] = spec.custom
        if spec.rdnis is not None:
            body["rdnis"] = spec.rdnis
        return body

    @staticmethod
    def _to(spec: CallSpec) -> dict:
        return {"type": spec.to_type or guess_to_type(spec.to), "endpoint": spec.to}

    def _run(self, report: CallReport, spec: CallSpec, call_id: str, kind: str, reply: dict | None,
             recordings: list[dict]) -> bool:
        """Execute one SVAML reply; True when the call got connected (and so lasts)."""
        refused = judge(reply if reply is not None else {}, kind)
        if refused:
            error = "; ".join(refused)
            report.problems.append(f"{kind} reply rejected (40001 illegal SVAML): {error}")
            self.post(report, {"event": "notify", "callid": call_id, "version": 1, "type": "callingerror",
                               "errorCode": 40001, "errorMsg": f"Illegal SVAML: {error}"[:500]}, spec)
            return False
        for instruction in reply.get("instructions", []):
            if instruction["name"] == "startRecording":
                recordings.append({"options": instruction["options"], "conference": None,
                                   "from": report.clock, "to": None})
            elif instruction["name"] == "stopRecording":
                for segment in recordings:
                    if segment["to"] is None and not segment["conference"]:
                        segment["to"] = report.clock
        action = reply["action"]
        name = action["name"]
        if action.get("record"):
            recordings.append({"options": action["recordingOptions"],
                               "conference": action.get("conferenceId") if name == "connectConf" else None,
                               "from": report.clock, "to": None})
        if name == "runMenu":
            return self._menu(report, spec, call_id, action, recordings)
        if name in ("connectPstn", "connectSip"):
            report.clock += spec.ring  # the callee's phone rings, then answers
            ace = self.post(report, {"event": "ace", "callid": call_id, "timestamp": _stamp(), "version": 1,
                                     "applicationKey": self.key}, spec)
            return ace.status == 200 and self._run(report, spec, call_id, "ace", ace.reply, recordings)
        return name in ("connectMxp", "connectConf", "continue")

    def _menu(self, report, spec, call_id, action, recordings) -> bool:
        menus = {menu["id"]: menu for menu in action["menus"]}
        menu = menus[action.get("mainMenu") or "main"]
        while True:
            press = _press(spec, report.menus_answered)
            report.menus_answered += 1
            if press == "hangup":  # Sinch sends no PIE: the call just ends
                report.caller_hung_up = True
                return False
            if press is None:
                result = {"menuId": menu["id"], "type": "timeout", "value": "", "inputMethod": "dtmf"}
                break
            value = self._key(report, press, menu.get("maxDigits"))
            option = next((o for o in menu.get("options", []) if o["dtmf"] == value), None)
            goto = re.match(r"^menu\((.*)\)$", option["action"]) if option else None
            if goto and goto.group(1) in menus:  # Sinch moves to that menu itself: no callback
                menu = menus[goto.group(1)]
                continue
            match = re.match(r"^return\((.*)\)$", option["action"]) if option else None
            result = ({"menuId": menu["id"], "type": "return", "value": match.group(1), "inputMethod": "dtmf"}
                      if match else {"menuId": menu["id"], "type": "sequence", "value": value, "inputMethod": "dtmf"})
            break
        pie = self.post(report, {"event": "pie", "callid": call_id, "timestamp": _stamp(), "version": 1,
                                 "menuResult": result, "applicationKey": self.key}, spec)
        return pie.status == 200 and self._run(report, spec, call_id, "pie", pie.reply, recordings)

    @staticmethod
    def _key(report: CallReport, press: str, max_digits: int | None) -> str:
        """Press the keys of ``press`` until ``#`` or ``max_digits``; the digits collected."""
        keyed = ""
        for key in press:
            report.keys.append((report.clock, key))
            report.clock += KEY_SECONDS
            if key == "#":
                break
            keyed += key
            if max_digits and len(keyed) >= max_digits:
                break
        return keyed

    # ------------------------------------------------------------------ recordings

    def _finish_recording(self, report, spec, call_id, segment, started, duration) -> None:
        """Upload the segment's file (``duration`` seconds from its start, with the keys pressed
        meanwhile) and send its notifies."""
        options = segment["options"]
        requested = options.get("format", "mp3")  # Sinch's default
        begun = started + timedelta(seconds=segment["from"])
        uri = self._file_uri(options["destinationUrl"], call_id, requested, begun)
        fmt = spec.misbehave.upload_format or requested
        notify = {"event": "notify", "callid": call_id, "version": 1, "destination": uri}
        if segment.get("conference"):
            notify["conferenceId"] = segment["conference"]
        bad = spec.misbehave
        heard = tuple((at - segment["from"], key) for at, key in report.keys
                      if segment["from"] <= at < segment["from"] + duration)
        data = b"" if bad.empty_upload else audio(fmt, max(duration, 0), heard)
        if options.get("notificationEvents") is False:  # the file is written; Sinch says nothing
            self._upload(report, uri, options, data, fmt)
            return
        finished = {"event": "notify", "callid": call_id, "version": 1, "type": "recording_finished"} \
            if spec.minimal_finished else {**notify, "type": "recording_finished"}
        available = {**notify, "type": "recording_available"}
        order = [available, finished] if bad.reorder_notifies else [finished, available]
        if bad.missing_available:
            order = [finished]
        uploaded = None  # not tried yet
        for message in order:
            if message is available and not bad.late_availability and uploaded is None:
                uploaded = self._upload(report, uri, options, data, fmt)
            if message is available and uploaded is False:
                continue  # the write failed: Sinch never says the file is available
            for _ in range(2 if bad.duplicate_notifies else 1):
                self.post(report, message, spec)
        if uploaded is None:
            uploaded = self._upload(report, uri, options, data, fmt)
        transcription = options.get("transcriptionOptions") or {}
        if transcription.get("enabled") and uploaded:
            transcript_uri = uri.rsplit(".", 1)[0] + "-transcript.json"
            text = json.dumps({"text": "Hello, this is a simulated call.",
                               "lines": [{"timestamp": 0.5, "speakerLabel": "Speaker 1",
                                          "text": "Hello, this is a simulated call."}]}).encode()
            if self._upload(report, transcript_uri, options, text, "json"):
                report.uploads[-1].transcript = transcript_uri
                self.post(report, {**notify, "type": "transcription_available", "destination": transcript_uri}, spec)

    def _file_uri(self, destination: str, call_id: str, fmt: str, started: datetime) -> str:
        """The object Sinch writes: the URL as given, or Sinch's default name in that folder
        (stamped with the segment's start)."""
        scheme, _, rest = destination.partition("://")
        parts = rest.split("/")
        folder_only = destination.endswith("/") or len(parts) < (3 if scheme == "azure" else 2)
        if not folder_only:
            return destination
        name = _DEFAULT_NAME.format(stamp=started.strftime("%Y%m%d%H%M%S"), key=self.key, callid=call_id, format=fmt)
        return destination.rstrip("/") + "/" + name

    def _upload(self, report: CallReport, uri: str, options: dict, data: bytes, fmt: str) -> bool:
        location = parse_location(uri)
        try:
            if location.scheme == "gs" and self.endpoints.gcs and not self.endpoints.gcs_xml:
                reader("gs", {"endpoint": self.endpoints.gcs}).probe_write(location, data)
            else:
                endpoint = {"s3": {"endpoint_url": self.endpoints.s3 or ""},
                            "azure": {"account_url": self.endpoints.azure or ""},
                            "gs": {"xml_endpoint": self.endpoints.gcs_xml or ""}}[location.scheme]
                writer(location, options["credentials"], endpoint).probe_write(location, data)
        except StorageError as error:
            report.problems.append(f"upload {uri} failed: {error}")
            return False
        if fmt != "json":
            report.uploads.append(Upload(uri, len(data), hashlib.sha256(data).hexdigest(), fmt))
        return True


def _press(spec: CallSpec, index: int) -> str | None:
    """The keys answering the call's ``index``-th menu (the last press answers any further)."""
    presses = (spec.press,) if spec.press is None or isinstance(spec.press, str) else spec.press
    return presses[min(index, len(presses) - 1)] if presses else None


def _slowly(raw: bytes, pause: float):
    for start in range(0, len(raw), 64):
        yield raw[start:start + 64]
        time.sleep(pause)


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
