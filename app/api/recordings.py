"""``/api/v1/recordings``: the catalogue, newest first, keyset-paged."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app
from marshmallow import RAISE
from flask_smorest import abort
from sqlalchemy import select

from app.api.routes import api_blueprint
from app.api.schemas import (
    CallRecordingsSchema,
    ControlArgs,
    ControlResultSchema,
    CopyArgs,
    CopyJobListSchema,
    CopyJobSchema,
    DeleteArgs,
    DownloadArgs,
    DownloadSchema,
    HoldSchema,
    RecordingListArgs,
    RecordingPageSchema,
    RecordingSchema,
)
from app.db import db
from app.recordings import status
from app.recordings.catalogue import hold
from app.recordings.control import ControlError, control, pauses
from app.recordings.copies import CopyRefused, create
from app.recordings.models import Call, CopyJob, Recording
from app.recordings.queries import copy_jobs_of, recording_page
from app.recordings.retention import Held, NotDeletable, delete
from app.recordings.tasks import copy_recording as queue_copy
from app.storage import StorageError
from app.storage.lookup import recording_backend

blp, fails = api_blueprint("recordings", __name__, "Recordings and their proof")


def _recording_or_404(recording_id: str) -> Recording:
    recording = db.session.get(Recording, recording_id)
    if recording is None:
        abort(404, message=f"no recording {recording_id}; list them at /api/v1/recordings")
    return recording


@blp.get("/recordings")
@blp.arguments(RecordingListArgs, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, RecordingPageSchema)
@fails()
def list_recordings(args: dict):
    """List recordings, newest first; filter by status, call, rule and time; page with ``cursor``."""
    page, next_cursor = recording_page(db.session, args, args["limit"], args.get("cursor"))
    return {"data": page, "paging": {"next_cursor": next_cursor}}


@blp.get("/recordings/<string:recording_id>")
@blp.response(200, RecordingSchema)
@fails(404)
def get_recording(recording_id: str):
    """One recording with its proof (size, SHA-256, duration) or why it failed."""
    return _recording_or_404(recording_id)


@blp.get("/recordings/<string:recording_id>/download")
@blp.arguments(DownloadArgs, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, DownloadSchema)
@fails(404, 409, 502)
def download(args: dict, recording_id: str):
    """A presigned link to the file (S3 presign, Azure SAS, GCS v4 signed URL); verified recordings only."""

    recording = _recording_or_404(recording_id)
    if recording.status != status.VERIFIED:
        abort(409, message=f"recording {recording_id} is {recording.status}: only verified recordings can be "
                           "downloaded" + (f" ({recording.failure_reason})" if recording.failure_reason else ""))
    try:
        backend, location = recording_backend(current_app.extensions["rules"].current, recording)
        url = backend.presign(location, args["expires_in"])
    except StorageError as error:
        abort(502, message=f"the store could not sign a link: {error}")
    expires_at = datetime.now(timezone.utc) + timedelta(seconds=args["expires_in"])
    return {"url": url, "expires_at": expires_at}, 200, {"Cache-Control": "no-store"}  # a link is a credential


@blp.get("/calls/<string:call_id>/recordings")
@blp.response(200, CallRecordingsSchema)
@fails()
def call_recordings(call_id: str):
    """Every recording of a call, by segment, and the pauses between them."""
    rows = db.session.scalars(select(Recording).where(Recording.call_id == call_id).order_by(Recording.segment))
    call = db.session.get(Call, call_id)
    return {"data": list(rows), "pauses": pauses(call.controls if call is not None else None)}


@blp.get("/calls/<string:call_id>/recordings/active")
@blp.response(200, RecordingSchema)
@fails(404)
def active_recording(call_id: str):
    """The recording running now (requested, not yet finished), 404 when there is none."""
    row = db.session.scalars(select(Recording).where(Recording.call_id == call_id, Recording.status == status.REQUESTED)
                             .order_by(Recording.segment.desc())).first()
    if row is None:
        abort(404, message=f"call {call_id} is not being recorded now")
    return row


@blp.delete("/recordings/<string:recording_id>")
@blp.arguments(DeleteArgs, location="query", error_status_code=400, unknown=RAISE)
@blp.response(200, RecordingSchema)
@fails(404, 409, 502)
def delete_recording(args: dict, recording_id: str):
    """Delete the file, then mark the recording deleted with a receipt; refused under legal hold."""
    _recording_or_404(recording_id)
    try:
        delete(db.engine, current_app.extensions["rules"].current, recording_id, by="api",
               reason=args["reason"])
    except Held as error:
        abort(409, message=str(error))
    except NotDeletable as error:
        abort(409, message=str(error))
    except StorageError as error:
        abort(502, message=f"the file could not be deleted, so the recording was kept: {error}")
    db.session.expire_all()
    return _recording_or_404(recording_id)


@blp.put("/recordings/<string:recording_id>/hold")
@blp.arguments(HoldSchema, error_status_code=400)
@blp.response(200, RecordingSchema)
@fails(404)
def hold_recording(args: dict, recording_id: str):
    """Put a recording under legal hold (no deletion, not even by retention) or lift the hold."""
    _recording_or_404(recording_id)
    with db.engine.begin() as connection:
        hold(connection, recording_id, args["legal_hold"])
    db.session.expire_all()
    return _recording_or_404(recording_id)


@blp.put("/calls/<string:call_id>/recording")
@blp.arguments(ControlArgs, error_status_code=400)
@blp.response(200, ControlResultSchema)
@fails(404, 409, 502)
def control_recording(args: dict, call_id: str):
    """Start, stop, pause or resume a live call's recording through Sinch's Manage Call API."""
    settings = current_app.extensions["settings"]
    client = current_app.extensions["manage_call"]
    try:
        result = control(db.engine, current_app.extensions["rules"].current, settings, client, call_id,
                         args["action"], by=args["by"], reason=args.get("reason"))
    except ControlError as error:
        abort(error.status_code, message=error.message)
    db.session.expire_all()
    call = db.session.get(Call, call_id)
    return {"call_id": call_id, "action": result.action, "segment": result.segment,
            "recording": db.session.get(Recording, result.recording_id) if result.recording_id else None,
            "pauses": pauses(call.controls)}


@blp.post("/recordings/<string:recording_id>/copy")
@blp.arguments(CopyArgs, error_status_code=400)
@blp.response(202, CopyJobSchema)
@fails(403, 404, 409)
def copy_recording(args: dict, recording_id: str):
    """Copy a verified recording to a destination profile or any bucket/container (credentials used once).

    Answers 202 with the job at once; ``GET /api/v1/copies/<id>`` follows its progress. The copy is
    verified (its SHA-256 must equal the source's) and catalogued with ``copied_from``."""
    _recording_or_404(recording_id)
    where = {name: args.get(name) for name in ("destination", "key", "target", "credentials")}
    try:
        job_id, target = create(db.engine, current_app.extensions["rules"].current, recording_id,
                                requested_by=args["by"],
                                allowed_endpoints=current_app.extensions["settings"].copy_allowed_endpoints, **where)
    except CopyRefused as error:
        if error.field_name:
            abort(error.status_code, message=str(error), messages={"json": {error.field_name: [str(error)]}})
        abort(error.status_code, message=str(error))
    if target.explicit:
        current_app.extensions["copies"].submit(job_id, target)
    else:
        queue_copy(job_id)
    return db.session.get(CopyJob, job_id), 202, {"Location": f"/api/v1/copies/{job_id}"}


@blp.get("/copies/<string:job_id>")
@blp.response(200, CopyJobSchema)
@fails(404)
def get_copy(job_id: str):
    """A copy job: status, method, bytes copied and, once verified, the catalogued copy."""
    job = db.session.get(CopyJob, job_id)
    if job is None:
        abort(404, message=f"no copy job {job_id}")
    return job


@blp.get("/recordings/<string:recording_id>/copies")
@blp.response(200, CopyJobListSchema)
@fails(404)
def recording_copies(recording_id: str):
    """Every copy job of a recording, newest first."""
    _recording_or_404(recording_id)
    return {"data": copy_jobs_of(db.session, recording_id)}
