"""Evidence bundles: one recording's events, each with its proof against one signed tree head.

A bundle is ``{"format", "recording", "entries", "sth", "public_key"}`` (docs/recordings.md gives
each field). :func:`build` makes one from the database; :func:`verify` checks one with nothing but
the bundle and a public key: the head's signature, each entry's inclusion proof, and that the
entries say what ``recording`` claims. The standalone ``tools/verify_evidence.py`` checks the same
by a second implementation, for auditors who will not install the service.
"""

from __future__ import annotations

import base64
import binascii
import json

from sqlalchemy import and_, literal_column, or_, select
from sqlalchemy.engine import Connection

from app.events.models import Event
from app.evidence import heads, log, merkle
from app.evidence.models import EvidenceLeaf
from app.recordings.models import Call, Recording
from app.recordings.representation import shown

FORMAT = "sinch-recorder-evidence/1"
# What a bundle claims of its recording, each stated by the recording's latest logged event.
CLAIMED = ("id", "call_id", "destination_url", "status", "sha256", "size_bytes", "duration_ms", "rule_id",
           "ruleset_hash")
CONSENT = "call.consent"
_events, _leaves, _recordings, _calls = Event.__table__, EvidenceLeaf.__table__, Recording.__table__, Call.__table__


class NotProvable(Exception):
    """No bundle can be made yet; the message says why and what to do."""


def statements(entries: list[dict]) -> list[tuple[int, dict]]:
    """``(leaf_index, event)`` of each entry, its bytes read as JSON."""
    read = []
    for item in entries:
        try:
            event = json.loads(base64.b64decode(item["entry"], validate=True))
        except (binascii.Error, ValueError, TypeError):
            raise merkle.ProofError(f"the entry of leaf {item.get('leaf_index')} is not base64 of JSON") from None
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise merkle.ProofError(f"the entry of leaf {item['leaf_index']} is not an event")
        read.append((item["leaf_index"], event))
    return read


def disagreements(recording: dict, read: list[tuple[int, dict]]) -> list[str]:
    """Where the entries do not say what ``recording`` claims: the recording's latest event states
    each field of :data:`CLAIMED`, and the call's latest ``call.consent`` (if any) the consent."""
    own = [(index, event) for index, event in read if event["type"] != CONSENT]
    strangers = [index for index, event in own if event["data"].get("id") != recording["id"]]
    strangers += [index for index, event in read
                  if event["type"] == CONSENT and event["data"].get("call_id") != recording["call_id"]]
    if strangers:
        return [f"leaf {strangers[0]} is an event of another recording or call"]
    if not own:
        return ["no entry is an event of the recording"]
    latest_index, latest = max(own, key=lambda pair: pair[0])
    problems = [f"{name}: the recording claims {recording.get(name)!r}, its latest event (leaf {latest_index}) "
                f"says {latest['data'].get(name)!r}"
                for name in CLAIMED if recording.get(name) != latest["data"].get(name)]
    consents = [(index, event["data"].get("consent")) for index, event in read if event["type"] == CONSENT]
    said = max(consents)[1] if consents else None
    if recording.get("consent") != said:
        problems.append(f"consent: the recording claims {recording.get('consent')!r}, the call's events say {said!r}")
    return problems


def verify(bundle: dict, public_key: bytes | None = None) -> list[str]:
    """Check a bundle; what it proves, one line each. Raises :class:`merkle.ProofError` naming the
    first failure. ``public_key`` (raw 32 bytes) is the key to trust; without it, the bundle's own."""
    try:
        recording, head, entries = bundle["recording"], bundle["sth"], bundle["entries"]
        public = public_key or heads.unb64(bundle["public_key"], "the bundle's public key")
        heads.check(head, public)
        size, root_hash = head["tree_size"], heads.unb64(head["root_hash"], "the root hash")
        for item in entries:
            merkle.verify_inclusion(merkle.leaf_hash(heads.unb64(item["entry"], f"leaf {item['leaf_index']}")),
                                    item["leaf_index"], size,
                                    [heads.unb64(h, "a proof hash") for h in item["inclusion_path"]], root_hash)
        problems = disagreements(recording, statements(entries))
    except merkle.ProofError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as error:  # a field missing or of another kind
        raise merkle.ProofError(f"the bundle is malformed: {error!r}") from None
    if problems:
        raise merkle.ProofError(problems[0])
    return [f"tree head: {size} leaves, signed by log {head['log_id']} at {head['timestamp']} ms",
            f"{len(entries)} event(s) included in it: " + ", ".join(f"{e['leaf_index']}" for e in entries),
            *(f"{name}: {recording.get(name)}" for name in (*CLAIMED, "consent"))]


def build(connection: Connection, recording_id: str, key) -> dict:
    """The bundle of a recording against the latest signed tree head. Raises :class:`LookupError`
    when there is no such recording, :class:`NotProvable` when the log cannot prove it yet."""
    row = connection.execute(select(_recordings).where(_recordings.c.id == recording_id)).mappings().first()
    if row is None:
        raise LookupError(recording_id)
    head = heads.latest(connection)
    if head is None:
        raise NotProvable("the transparency log has no signed tree head yet: the worker signs one within "
                          "EVIDENCE_STH_SECONDS of new events (or run flask evidence sign)")
    consent = connection.execute(select(_calls.c.consent).where(_calls.c.call_id == row["call_id"])).scalar()
    its_consents = and_(_leaves.c.call_id == row["call_id"],  # (inline: the partial index's own condition)
                        _leaves.c.type == literal_column(f"'{CONSENT}'"))
    logged = connection.execute(select(_leaves.c.leaf_index, _leaves.c.entry).where(or_(
        _leaves.c.recording_id == recording_id, its_consents)).order_by(_leaves.c.leaf_index)).all()
    covered = [(index, bytes(entry)) for index, entry in logged if index < head["tree_size"]]
    recording = {name: value for name, value in shown(dict(row)).items() if name in CLAIMED}
    read = [(index, json.loads(entry)) for index, entry in covered]
    consents = [event["data"].get("consent") for _, event in read if event["type"] == CONSENT]
    recording["consent"] = consent if consents else None
    problems = disagreements(recording, read)
    if problems:
        mine = or_(_events.c.recording_id == recording_id,
                   and_(_events.c.call_id == row["call_id"], _events.c.type == CONSENT))
        pending = connection.execute(select(_events.c.id).where(mine, or_(
            _events.c.seq.is_(None), ~_events.c.id.in_(select(_leaves.c.event_id).where(
                _leaves.c.leaf_index < head["tree_size"]))))).first()
        raise NotProvable(f"the log does not prove recording {recording_id} as the catalogue has it ({problems[0]}): "
                          + ("its latest events are not under a signed tree head yet; try again after the next one "
                             "(EVIDENCE_STH_SECONDS)" if pending else
                             "the catalogue disagrees with its own events; run flask evidence audit"))
    paths = [log.inclusion(connection, index, head["tree_size"]) for index, _ in covered]
    return {"format": FORMAT, "recording": recording,
            "entries": [{"leaf_index": index, "entry": heads.b64(entry), "inclusion_path": [heads.b64(h) for h in path]}
                        for (index, entry), path in zip(covered, paths)],
            "sth": head, "public_key": heads.key_document(key)["public_key"]}
