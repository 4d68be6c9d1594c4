"""``flask evidence``: the transparency log's key, its state, a head signed now, a bundle checked,
the whole log audited; and ``flask recordings evidence ID`` (registered in that group by
``app.cli``), a recording's bundle written to a file."""

from __future__ import annotations

import base64
import binascii
import json
import sys

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app.db import db
from app.evidence import audit, bundle, heads, log, merkle
from app.evidence.state import state
from app.evidence.tasks import grow

cli = AppGroup("evidence", help="The transparency log of the catalogue's events (signed tree heads, proofs).")
OFF = "the transparency log is off: set EVIDENCE_SIGNING_KEY (flask evidence keygen makes one)"


def signing_key() -> Ed25519PrivateKey:
    key = current_app.extensions["settings"].evidence_signing_key
    if key is None:
        raise click.ClickException(OFF)
    return key


def _public(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise click.BadParameter("give the public key as /api/v1/evidence/key shows it: base64 of 32 bytes")
    return raw


@cli.command("keygen")
def keygen_command() -> None:
    """Print a new signing key (set it as EVIDENCE_SIGNING_KEY, a secret) and its public key (give
    that to whoever will verify)."""
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes_raw()
    document = heads.key_document(key)
    click.echo(f"EVIDENCE_SIGNING_KEY={base64.b64encode(raw).decode()}")
    click.echo(f"public key: {document['public_key']}")
    click.echo(f"log id:     {document['log_id']}")


@cli.command("status")
def status_command() -> None:
    """The log's size, what is still to append, sign and write, and the latest signed tree head."""
    document = heads.key_document(signing_key())
    with db.engine.connect() as connection:
        now = state(connection, current_app.extensions["rules"].current)
        head = heads.latest(connection)
    click.echo(f"log {document['log_id']} (public key {document['public_key']})")
    click.echo(f"{now['leaves']} leaves; {now['waiting']} numbered event(s) to append; {now['unsigned']} leaves under "
               f"no signed head yet; {now['unwritten']} head(s) not written to the evidence destination yet")
    click.echo(f"latest tree head: {json.dumps(head)}" if head else "no signed tree head yet")


@cli.command("sign")
def sign_command() -> None:
    """Append the new events, sign a tree head now and write it to the evidence destination (the
    worker does so every EVIDENCE_STH_SECONDS)."""
    signing_key()
    head = grow(current_app._get_current_object(), every_seconds=0)
    with db.engine.connect() as connection:
        size = log.size(connection)
    click.echo(f"signed a tree head of {head['tree_size']} leaves" if head else
               f"the tree ({size} leaves) has not grown since the last head")


@cli.command("verify")
@click.argument("path", type=click.File("r"))
@click.option("--key", "public", help="The public key to trust (base64, as /api/v1/evidence/key gives it); "
              "without it, the bundle's own.")
def verify_command(path, public) -> None:
    """Check an evidence bundle: the tree head's signature, every inclusion proof, and that the
    entries say what the bundle claims of the recording. Exits 1 naming the first failure."""
    try:
        document = json.load(path)
    except ValueError as error:
        raise click.ClickException(f"{path.name} is not JSON ({error}); give the file flask recordings evidence "
                                   "wrote") from None
    try:
        proven = bundle.verify(document, _public(public) if public else None)
    except merkle.ProofError as error:
        click.echo(f"NOT VERIFIED: {error}", err=True)
        sys.exit(1)
    if not public:
        click.echo("warning: checked against the bundle's own public key; give --key to check it is the service's",
                   err=True)
    click.echo("VERIFIED")
    for line in proven:
        click.echo(f"  {line}")


@cli.command("audit")
@click.option("--key", "keys", multiple=True, help="Another public key heads may be signed by (a retired one); "
              "the current key is always trusted. Repeatable.")
def audit_command(keys) -> None:
    """Rebuild the tree from the database and check every leaf, node and kept tree head, and each
    recording against its latest event. Exits 1 naming what was changed, deleted or inserted."""
    key = signing_key()
    settings = current_app.extensions["settings"]
    with db.engine.connect() as connection:
        total = log.size(connection)
    with click.progressbar(length=total, label="rebuilding the tree", file=sys.stderr) as bar:
        done = [0]

        def progress(leaves: int) -> None:
            bar.update(leaves - done[0])
            done[0] = leaves

        report = audit.audit(db.engine, [heads.public_raw(key), *map(_public, keys)], settings.events_retain_days,
                             progress)
    click.echo(f"{report.leaves} leaves, {report.heads} tree heads, {report.recordings} recordings checked"
               + (f"; {report.pruned} events deleted by EVENTS_RETAIN_DAYS (their entries still proven)"
                  if report.pruned else ""))
    if report.problems:
        for problem in report.problems:
            click.echo(f"PROBLEM: {problem}", err=True)
        sys.exit(1)
    click.echo("the log and the catalogue agree")


@click.command("evidence")
@click.argument("recording_id")
@with_appcontext
@click.option("-o", "--output", type=click.File("w"), default="-", show_default=True,
              help="Where to write the bundle (JSON).")
def bundle_command(recording_id, output) -> None:
    """Write the evidence bundle of a recording: its events, each with its inclusion proof against
    the latest signed tree head. Check it with flask evidence verify or tools/verify_evidence.py."""
    key = signing_key()
    with db.engine.connect() as connection:
        try:
            made = bundle.build(connection, recording_id, key)
        except LookupError:
            raise click.ClickException(f"no recording {recording_id}; find it with flask recordings list") from None
        except bundle.NotProvable as error:
            raise click.ClickException(str(error)) from None
    json.dump(made, output, indent=2)
    output.write("\n")
    if output is not sys.stdout:
        click.echo(f"wrote the evidence of {recording_id}: {len(made['entries'])} event(s) under the tree head of "
                   f"{made['sth']['tree_size']} leaves, to {output.name}", err=True)
