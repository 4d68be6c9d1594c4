#!/usr/bin/env python3
"""Verify a sinch-recorder evidence bundle, standing alone: needs Python 3.9+ and ``cryptography``.

    pip install cryptography
    python verify_evidence.py bundle.json --key <the service's public key, base64>

It checks, and prints what is proven or exits 1 naming the first failure:

1. the signed tree head: Ed25519 by the given key over the RFC 8785 JSON of
   ``{"log_id", "tree_size", "timestamp", "root_hash"}``, and ``log_id`` = hex SHA-256 of the key;
2. each entry's inclusion in that tree (RFC 9162 §2.1.3: leaf hash SHA-256(0x00 || entry), node
   SHA-256(0x01 || left || right)), computed here by the inner/border split of the path, a
   second implementation beside the service's own (which follows the RFC's loop);
3. that the entries say what the bundle claims of the recording: its latest event states each
   claimed field, and its call's latest ``call.consent`` event the consent.

The format is described in docs/recordings.md ("Evidence bundles"). This file is meant to be
copied and read: it is short on purpose.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CLAIMED = ("id", "call_id", "destination_url", "status", "sha256", "size_bytes", "duration_ms", "rule_id",
           "ruleset_hash")


class Failure(Exception):
    pass


def decode(text, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise Failure(f"{what} is not standard base64") from None


def canonical(head: dict) -> bytes:
    """RFC 8785 of the signed fields. They are ASCII strings and integers below 2**53, for which
    sorted keys, no spaces and plain integers are exactly RFC 8785; anything else is refused."""
    signed = {name: head.get(name) for name in ("log_id", "tree_size", "timestamp", "root_hash")}
    for name, value in signed.items():
        plain = (isinstance(value, str) and value.isascii() and value.isprintable()
                 and '"' not in value and "\\" not in value)
        if not (plain or (type(value) is int and 0 <= value < 2**53)):
            raise Failure(f"the tree head's {name} is not a plain string or integer")
    return json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()


def check_head(head: dict, public: bytes) -> tuple[int, bytes]:
    expected = hashlib.sha256(public).hexdigest()
    if head.get("log_id") != expected:
        raise Failure(f"the tree head is of log {head.get('log_id')}, not of the given key's ({expected})")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(decode(head.get("signature"), "the signature"),
                                                          canonical(head))
    except InvalidSignature:
        raise Failure(f"the signature of the tree head of size {head.get('tree_size')} does not verify") from None
    return head["tree_size"], decode(head["root_hash"], "the root hash")


def root_from_inclusion(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    if not 0 <= index < size:
        raise Failure(f"leaf {index} is not in a tree of {size}")
    inner = (index ^ (size - 1)).bit_length()  # the levels where the path to index and to size-1 differ
    border = bin(index >> inner).count("1")     # above them: left siblings only
    if len(path) != inner + border:
        raise Failure(f"the inclusion path of leaf {index} has {len(path)} hashes, a tree of {size} needs "
                      f"{inner + border}")
    node = hashlib.sha256(b"\x00" + leaf).digest()
    for level, sibling in enumerate(path):
        if level < inner and not (index >> level) & 1:
            node = hashlib.sha256(b"\x01" + node + sibling).digest()
        else:
            node = hashlib.sha256(b"\x01" + sibling + node).digest()
    return node


def check_claims(recording: dict, events: list[tuple[int, dict]]) -> None:
    own = [(index, event) for index, event in events if event.get("type") != "call.consent"]
    consents = [(index, event) for index, event in events if event.get("type") == "call.consent"]
    for index, event in own:
        if event.get("data", {}).get("id") != recording.get("id"):
            raise Failure(f"leaf {index} is an event of another recording or call")
    for index, event in consents:
        if event.get("data", {}).get("call_id") != recording.get("call_id"):
            raise Failure(f"leaf {index} is an event of another recording or call")
    if not own:
        raise Failure("no entry is an event of the recording")
    index, latest = max(own, key=lambda pair: pair[0])
    for name in CLAIMED:
        if recording.get(name) != latest["data"].get(name):
            raise Failure(f"{name}: the recording claims {recording.get(name)!r}, its latest event (leaf {index}) "
                          f"says {latest['data'].get(name)!r}")
    said = max(consents, key=lambda pair: pair[0])[1]["data"].get("consent") if consents else None
    if recording.get("consent") != said:
        raise Failure(f"consent: the recording claims {recording.get('consent')!r}, the call's events say {said!r}")


def verify(bundle: dict, public: bytes) -> list[str]:
    try:
        size, root = check_head(bundle["sth"], public)
        events = []
        for item in bundle["entries"]:
            entry = decode(item["entry"], f"the entry of leaf {item['leaf_index']}")
            path = [decode(h, "a proof hash") for h in item["inclusion_path"]]
            if root_from_inclusion(item["leaf_index"], size, entry, path) != root:
                raise Failure(f"the inclusion path of leaf {item['leaf_index']} does not lead to the root hash")
            try:
                events.append((item["leaf_index"], json.loads(entry)))
            except ValueError:
                raise Failure(f"the entry of leaf {item['leaf_index']} is not JSON") from None
        check_claims(bundle["recording"], events)
    except (KeyError, TypeError, AttributeError) as error:
        raise Failure(f"the bundle is malformed: {error!r}") from None
    recording = bundle["recording"]
    return [f"tree head: {size} leaves, signed by log {bundle['sth']['log_id']} at {bundle['sth']['timestamp']} ms",
            f"{len(events)} event(s) included in it: " + ", ".join(str(index) for index, _ in events),
            *(f"{name}: {recording.get(name)}" for name in (*CLAIMED, "consent"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a sinch-recorder evidence bundle.")
    parser.add_argument("bundle", help="the bundle's JSON file")
    parser.add_argument("--key", help="the service's public key, base64 (from /api/v1/evidence/key); without it the "
                        "bundle's own key is used, which proves the bundle is whole but not who signed it")
    args = parser.parse_args(argv)
    try:
        with open(args.bundle, encoding="utf-8") as handle:
            bundle = json.load(handle)
        if not isinstance(bundle, dict):
            raise Failure("the bundle is not a JSON object")
        public = decode(args.key or bundle.get("public_key"), "the public key")
        if len(public) != 32:
            raise Failure("the public key is not 32 bytes")
        proven = verify(bundle, public)
    except (OSError, ValueError) as error:
        print(f"NOT VERIFIED: cannot read {args.bundle}: {error}", file=sys.stderr)
        return 1
    except Failure as error:
        print(f"NOT VERIFIED: {error}", file=sys.stderr)
        return 1
    if not args.key:
        print("warning: checked against the bundle's own public key; give --key to check it is the service's",
              file=sys.stderr)
    print("VERIFIED")
    for line in proven:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
