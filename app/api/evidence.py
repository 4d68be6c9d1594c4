"""``/api/v1/evidence``: the transparency log as RFC 9162 serves one (key, tree heads, entries,
proofs), and ``/api/v1/recordings/{id}/evidence``, a recording's bundle: thin views over
``app.evidence``. While ``EVIDENCE_SIGNING_KEY`` is unset every route answers 404 saying so."""

from __future__ import annotations

from flask import current_app
from flask_smorest import abort
from marshmallow import RAISE

from app.api.routes import api_blueprint
from app.api.schemas import (
    BundleSchema,
    ConsistencyArgs,
    ConsistencySchema,
    EntriesArgs,
    EntriesSchema,
    EvidenceKeySchema,
    InclusionArgs,
    InclusionSchema,
    TreeHeadArgs,
    TreeHeadSchema,
)
from app.db import db
from app.evidence import bundle, heads, log, merkle

blp, fails = api_blueprint("evidence", __name__, "The transparency log: signed tree heads, entries, proofs, bundles")
OFF = "the transparency log is off: the operator sets EVIDENCE_SIGNING_KEY to turn it on"


def _key():
    key = current_app.extensions["settings"].evidence_signing_key
    if key is None:
        abort(404, message=OFF)
    return key


def _proof(make):
    """A proof, or 404 naming why there is none (a leaf outside the tree, a tree larger than the
    log, sizes in the wrong order): the query was well formed, the proof does not exist."""
    try:
        with db.engine.connect() as connection:
            return [heads.b64(digest) for digest in make(connection)]
    except merkle.ProofError as error:
        abort(404, message=f"{error}")


@blp.get("/evidence/key")
@blp.response(200, EvidenceKeySchema)
@fails(404)
def key():
    """The public key tree heads are signed with, and the log's id (hex SHA-256 of the raw key)."""
    return heads.key_document(_key())


@blp.get("/evidence/sth")
@blp.arguments(TreeHeadArgs, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, TreeHeadSchema)
@fails(404)
def tree_head(args: dict):
    """The latest signed tree head, or with ``tree_size`` the kept one of that size."""
    _key()
    with db.engine.connect() as connection:
        head = heads.at(connection, args["tree_size"]) if "tree_size" in args else heads.latest(connection)
    if head is None:
        abort(404, message=f"no signed tree head of size {args['tree_size']}" if "tree_size" in args else
              "no signed tree head yet: the worker signs one within EVIDENCE_STH_SECONDS of new events")
    return head


@blp.get("/evidence/entries")
@blp.arguments(EntriesArgs, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, EntriesSchema)
@fails(404)
def entries(args: dict):
    """The leaves ``start ≤ leaf_index < end``, at most 1 000 a call, each the exact bytes hashed:
    enough for a monitor to rebuild the tree."""
    _key()
    with db.engine.connect() as connection:
        rows = log.entries(connection, args["start"], args["end"])
    return {"entries": [{"leaf_index": row["leaf_index"], "entry": heads.b64(bytes(row["entry"]))} for row in rows]}


@blp.get("/evidence/proof/inclusion")
@blp.arguments(InclusionArgs, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, InclusionSchema)
@fails(404)
def inclusion(args: dict):
    """The inclusion path of a leaf in the tree of ``tree_size`` leaves (RFC 9162 §2.1.3)."""
    _key()
    path = _proof(lambda connection: log.inclusion(connection, args["leaf_index"], args["tree_size"]))
    return {**args, "inclusion_path": path}


@blp.get("/evidence/proof/consistency")
@blp.arguments(ConsistencyArgs, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, ConsistencySchema)
@fails(404)
def consistency(args: dict):
    """The consistency path from the tree of ``first`` leaves to that of ``second`` (RFC 9162 §2.1.4)."""
    _key()
    path = _proof(lambda connection: log.consistency(connection, args["first"], args["second"]))
    return {**args, "consistency_path": path}


@blp.get("/recordings/<string:recording_id>/evidence")
@blp.response(200, BundleSchema)
@fails(404, 409)
def recording_evidence(recording_id: str):
    """The recording's evidence bundle: its events, each with its inclusion proof against the
    latest signed tree head. 409 while the log does not prove the catalogue's state yet."""
    signing = _key()
    with db.engine.connect() as connection:
        try:
            return bundle.build(connection, recording_id, signing)
        except LookupError:
            abort(404, message=f"no recording {recording_id}")
        except bundle.NotProvable as error:
            abort(409, message=str(error))
