"""The fallback reply: what ICE, ACE and PIE get when anything fails, so no call is dropped.

``SINCH_FALLBACK_ICE_SVAML`` (and ``…_ACE_…``, ``…_PIE_…``) configure it per callback, each
checked against that callback's platform rules at start; unset, the built-in one answers:
ICE connects the dialled destination without recording — except a call to the application's own
number (``to.type`` ``did``), which has no dialled destination beyond that number: it is told so
and hung up on, never connected back to itself — and ACE and PIE ``continue``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from app.settings import Settings, SettingsError
from app.sinch import svaml
from app.sinch.svaml import SvamlError, render


def builtin_fallback(event: dict) -> dict:
    """ICE: connect the dialled destination without recording (a DID call: :func:`svaml.no_route`);
    ACE and PIE: continue."""
    if event["event"] == "ice":
        to = event.get("to") or {}
        try:
            return svaml.svaml(svaml.connect_dialled(to.get("type"), to.get("endpoint"), event.get("domain")))
        except svaml.Unroutable:
            return svaml.no_route()
    return svaml.svaml(svaml.continue_())


@dataclass(frozen=True)
class Fallback:
    """The reply when anything fails: the configured document for the callback, else the built-in."""

    configured: Mapping[str, dict] = field(default_factory=dict)  # by callback, already validated

    def __call__(self, event: dict) -> dict:
        configured = self.configured.get(event["event"])
        if configured is not None:
            return configured
        try:
            return render(builtin_fallback(event), event["event"])
        except SvamlError:  # a destination the schema refuses: let the platform dial it
            action = svaml.connect_pstn() if event["event"] == "ice" else svaml.continue_()
            return svaml.svaml(action)


def validated_fallbacks(configured: Mapping[str, dict | None]) -> dict[str, dict]:
    """The configured fallback replies, each checked against its callback's rules.

    Raises :class:`ValueError` naming the setting when one would be refused by Sinch.
    """
    checked = {}
    for kind, doc in configured.items():
        if doc is None:
            continue
        try:
            checked[kind] = render(doc, kind)
        except SvamlError as error:
            raise ValueError(f"SINCH_FALLBACK_{kind.upper()}_SVAML: {error}") from None
    return checked


def fallback_for(settings: Settings) -> Fallback:
    try:
        return Fallback(validated_fallbacks(settings.fallback_svaml))
    except ValueError as error:
        raise SettingsError(str(error)) from None


def init_app(app) -> None:
    """The fallback reply (``SINCH_FALLBACK_*_SVAML``), checked once at start."""
    app.extensions["fallback"] = fallback_for(app.extensions["settings"])
