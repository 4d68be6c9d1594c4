"""``flask sinch simulate call`` and ``flask sinch simulate load``: play the platform locally."""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from urllib.parse import urljoin

import click
import requests
from flask.cli import ScriptInfo
from sqlalchemy import select

from app.db import db
from app.recordings.models import Recording
from app.recordings.status import FAILED, MISSING, VERIFIED, is_final
from app.settings import PROJECT_ROOT
from app.simulator.local_s3 import serve
from app.simulator.platform import CallReport, CallSpec, Endpoints, Misbehaviour, Platform
from app.sinch.events import DOMAINS, TO_TYPES
from app.sinch.options import CALL_HEADER
from app.storage import StorageError

DEFAULT_TARGET = "http://127.0.0.1:5000/sinch/callback"


@click.group("sinch", help="The Sinch platform, played locally.")
def cli() -> None:
    pass


@cli.command("local-s3")
@click.argument("destination")
@click.option("--dir", "folder", type=click.Path(file_okay=False), default="instance/local-s3", show_default=True,
              help="Where the store keeps its files.")
@click.option("--timeout", type=click.FloatRange(1, 600), default=60, show_default=True,
              help="Seconds to wait for the store to answer.")
def local_s3_command(destination, folder, timeout) -> None:
    """A local S3 store (SeaweedFS) for DESTINATION of the ruleset, with its bucket and both key pairs."""
    destinations = _service_app().extensions["rules"].current.destinations
    if destination not in destinations:
        raise click.ClickException(f"no destination {destination!r} in the ruleset "
                                   f"(known: {', '.join(sorted(destinations)) or 'none'})")
    path = Path(folder) if Path(folder).is_absolute() else PROJECT_ROOT / folder
    try:
        raise SystemExit(serve(destinations[destination], path, timeout, click.echo))
    except (ValueError, StorageError) as error:
        raise click.ClickException(str(error)) from None


@cli.group("simulate", help="Play calls against a running service, the way Sinch does.")
def simulate() -> None:
    pass


def _platform_options(function):
    options = [
        click.option("--target", default=lambda: os.environ.get("SIMULATOR_TARGET", DEFAULT_TARGET),
                     show_default=DEFAULT_TARGET, help="The service's callback URL (SIMULATOR_TARGET)."),
        click.option("--key", default=lambda: os.environ.get("SINCH_APPLICATION_KEY", ""),
                     help="Application key [SINCH_APPLICATION_KEY]."),
        click.option("--secret", default=lambda: os.environ.get("SINCH_APPLICATION_SECRET", ""),
                     help="Application secret [SINCH_APPLICATION_SECRET]."),
        click.option("--s3-endpoint", default=lambda: os.environ.get("SIMULATOR_S3_ENDPOINT", ""),
                     help="Where an S3-compatible store listens [SIMULATOR_S3_ENDPOINT]."),
        click.option("--azure-endpoint", default=lambda: os.environ.get("SIMULATOR_AZURE_ENDPOINT", ""),
                     help="Azure blob endpoint, e.g. Azurite's [SIMULATOR_AZURE_ENDPOINT]."),
        click.option("--gcs-endpoint", default=lambda: os.environ.get("SIMULATOR_GCS_ENDPOINT", ""),
                     help="A GCS emulator's address [SIMULATOR_GCS_ENDPOINT]."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _call_options(function):
    options = [
        click.option("--cli", "cli_number", default="+46701234567", show_default=True),
        click.option("--to", default="+46000000123", show_default=True,
                     help="Number, app user or SIP address (the default: the demo ruleset's try-it rule)."),
        click.option("--to-type", type=click.Choice(TO_TYPES), help="Default: guessed from --to."),
        click.option("--domain", type=click.Choice(DOMAINS), default="pstn", show_default=True),
        click.option("--press", multiple=True,
                     help="Keys answering a menu, '#' ending the input (e.g. 4111111111111111#); repeat it "
                          "for the menus that follow (the last one answers any further menus; none: every "
                          "menu times out; hangup: the caller hangs up during the menu)."),
        click.option("--duration", type=click.FloatRange(0, 14400), default=5, show_default=True,
                     help="Seconds of call once answered, and of audio in a recording that runs to the end."),
        click.option("--ring", type=click.FloatRange(0, 600), default=0, show_default=True,
                     help="Seconds the callee's phone rings before it answers (the ACE); a recording "
                          "stopped at the ACE lasts this long."),
        click.option("--custom", help="The ICE's custom field."),
        click.option("--minimal-finished", is_flag=True,
                     help="recording_finished without destination (the docs' minimal shape)."),
        click.option("--header", "headers", multiple=True, type=CALL_HEADER, help="A call header (repeatable)."),
        click.option("--format", "upload_format", type=click.Choice(["mp3", "wav"]),
                     help="The format the platform writes; default: as requested (mp3 when unsaid)."),
        click.option("--duplicate-notifies", is_flag=True, help="Send every notify twice."),
        click.option("--reorder-notifies", is_flag=True, help="recording_available before recording_finished."),
        click.option("--late-availability", is_flag=True, help="Announce the file before uploading it."),
        click.option("--missing-available", is_flag=True, help="Never send recording_available."),
        click.option("--empty-upload", is_flag=True, help="Upload a zero-byte file."),
        click.option("--wrong-signature", is_flag=True, help="Sign with the wrong secret."),
        click.option("--slow-sender", type=float, default=0.0, help="Seconds between 64-byte body chunks."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _platform(target, key, secret, s3_endpoint, azure_endpoint, gcs_endpoint) -> Platform:
    if not key or not secret:
        raise click.UsageError("give --key and --secret (or set SINCH_APPLICATION_KEY and SINCH_APPLICATION_SECRET) "
                               "as configured in the service")
    return Platform(target, key, secret, endpoints=Endpoints(s3_endpoint or None, azure_endpoint or None,
                                                             gcs_endpoint or None))


def _spec(cli_number, to, to_type, domain, press, duration, ring, custom, minimal_finished, headers, call_id=None,
          **flags) -> CallSpec:
    return CallSpec(cli=cli_number, to=to, to_type=to_type, domain=domain, press=tuple(press) or None,
                    duration=duration, ring=ring, custom=custom, minimal_finished=minimal_finished, call_id=call_id,
                    headers=tuple(headers), misbehave=Misbehaviour(**flags))


def _describe(reply: dict | None) -> str:
    if not reply:
        return ""
    parts = [i["name"] for i in reply.get("instructions", [])]
    action = reply.get("action", {})
    parts.append(action.get("name", "?") + (" (record)" if action.get("record") else ""))
    return ", ".join(parts)


@simulate.command("call")
@_platform_options
@_call_options
@click.option("--call-id", help="Default: a new one.")
@click.option("--wait", type=click.FloatRange(0, 3600), default=0, show_default=True,
              help="Seconds to wait for the service to be ready first, and then for the worker to verify "
                   "the recordings (reads the service's database).")
def call_command(target, key, secret, s3_endpoint, azure_endpoint, gcs_endpoint, call_id, wait, **call) -> None:
    """Play one call: ICE, menus, ACE, the recording uploads, DiCE and the notifies."""
    platform = _platform(target, key, secret, s3_endpoint, azure_endpoint, gcs_endpoint)
    if wait:
        _wait_for_service(target, wait)
    report = platform.call(_spec(call_id=call_id, **call))
    click.echo(f"call {report.call_id} → {target}")
    for exchange in report.exchanges:
        detail = _describe(exchange.reply) if exchange.event in ("ice", "ace", "pie") else ""
        click.echo(f"  {exchange.event:6} {exchange.status:3} {exchange.millis:7.1f} ms  {detail}")
    for upload in report.uploads:
        click.echo(f"  recorded {upload.uri} ({upload.size} bytes, {upload.format}, sha256 {upload.sha256[:16]}…)"
                   + (f" + transcript {upload.transcript}" if upload.transcript else ""))
    for problem in report.problems:
        click.echo(f"  problem: {problem}")
    if not report.ok:
        raise SystemExit(1)
    if wait and report.uploads:
        rows = _final_rows([report], wait)
        for upload in report.uploads:
            row = rows.get(upload.uri)
            click.echo(f"  {upload.uri}: " + (_describe_row(row) if row else "not in the catalogue"))
        if len(rows) < len(report.uploads) or any(row.status != VERIFIED for row in rows.values()):
            raise SystemExit(1)
    elif wait:
        click.echo("  nothing was recorded: see why with flask --app wsgi rules explain --to " + call["to"])


@simulate.command("load")
@_platform_options
@_call_options
@click.option("--calls", type=click.IntRange(1, 1_000_000), default=100, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--wait", type=click.FloatRange(0, 3600), default=0, show_default=True,
              help="Seconds to wait for the service to be ready first, and then for the worker to verify "
                   "the recordings (reads the service's database).")
def load_command(target, key, secret, s3_endpoint, azure_endpoint, gcs_endpoint, calls, concurrency, wait,
                 **call) -> None:
    """Play many calls at once, with a progress bar and a summary."""
    platform = _platform(target, key, secret, s3_endpoint, azure_endpoint, gcs_endpoint)
    if wait:
        _wait_for_service(target, wait)
    spec = _spec(**call)
    reports: list[CallReport] = []
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool, \
            click.progressbar(length=calls, label=f"{calls} calls, {concurrency} at a time", show_pos=True) as bar:
        futures = [pool.submit(platform.call, spec) for _ in range(calls)]
        for future in as_completed(futures):
            reports.append(future.result())
            bar.update(1)
    seconds = time.perf_counter() - started
    summary = summarize(reports, seconds)
    if wait:
        rows = _final_rows(reports, wait) if summary["recordings_expected"] else {}
        summary["recordings_verified"] = sum(row.status == VERIFIED for row in rows.values())
    click.echo(format_summary(summary))
    if not summary["recordings_expected"]:
        click.echo(f"  nothing was recorded: see why with flask --app wsgi rules explain --to {call['to']}")
    for problem in sorted({p for r in reports for p in r.problems})[:10]:
        click.echo(f"  problem: {problem}")
    if summary["errors"]:
        raise SystemExit(1)


def summarize(reports: list[CallReport], seconds: float) -> dict:
    ice = sorted(ms for report in reports for ms in report.reply_millis("ice"))
    percentile = (lambda q: statistics.quantiles(ice, n=100, method="inclusive")[q - 1]) if len(ice) > 1 else \
        (lambda q: ice[0] if ice else 0.0)
    return {"calls": len(reports), "errors": sum(not r.ok for r in reports), "seconds": seconds,
            "calls_per_second": len(reports) / seconds if seconds else 0.0,
            "ice_p50_ms": percentile(50), "ice_p99_ms": percentile(99),
            "recordings_expected": sum(len(r.uploads) for r in reports), "recordings_verified": None}


def format_summary(summary: dict) -> str:
    verified = summary["recordings_verified"]
    return (f"calls {summary['calls']}, errors {summary['errors']}, {summary['calls_per_second']:.1f} calls/s, "
            f"ICE reply p50 {summary['ice_p50_ms']:.1f} ms p99 {summary['ice_p99_ms']:.1f} ms, recordings "
            + (f"verified {verified} / expected {summary['recordings_expected']}" if verified is not None
               else f"uploaded {summary['recordings_expected']} (add --wait SECONDS to count verified ones)"))


def _service_app():
    """The service's app, as the ``flask`` command loaded it (its ruleset, its database)."""
    return click.get_current_context().ensure_object(ScriptInfo).load_app()


def _wait_for_service(target: str, seconds: float) -> None:
    """Poll the service's ``/readyz`` until it answers 200, or fail saying how to start it."""
    ready = urljoin(target, "/readyz")
    deadline, said = time.monotonic() + seconds, False
    while True:
        try:
            answer = requests.get(ready, timeout=2)
            if answer.status_code == 200:
                return
            last = f"/readyz answered {answer.status_code}: {answer.text.strip()[:300]}"
        except requests.RequestException as error:
            last = f"not answering ({type(error).__name__})"
        if time.monotonic() > deadline:
            raise click.ClickException(f"the service at {target} is not ready after {seconds:.0f} s ({last}); "
                                       "start it with: honcho start web worker")
        if not said:
            click.echo(f"waiting up to {seconds:.0f} s for the service ({ready})")
            said = True
        time.sleep(0.25)


def _final_rows(reports: list[CallReport], wait: float) -> dict:
    """The catalogue rows of the uploads, polled until each is final or ``wait`` passes."""
    uris = [upload.uri for report in reports for upload in report.uploads]
    deadline = time.monotonic() + wait
    with _service_app().app_context():
        while True:
            rows = {row.destination_url: row for row in db.session.scalars(
                select(Recording).where(Recording.destination_url.in_(uris)))}
            db.session.rollback()
            done = len(rows) >= len(uris) and all(is_final(row.status) for row in rows.values())
            if done or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)


def _describe_row(row) -> str:
    if row.status == VERIFIED:
        return f"verified ({row.size_bytes} bytes, {row.duration_ms} ms, sha256 {row.sha256[:16]}…)"
    why = row.failure_reason or row.pending_reason
    return f"{row.status}" + (f" ({why})" if why else "") + ("" if row.status in (FAILED, MISSING)
                                                          else " — not final yet; see flask --app wsgi recordings list")
