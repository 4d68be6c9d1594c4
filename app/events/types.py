"""The event types, as the feed and the webhooks name them, and which of them a list of globs
means (pure: the ruleset checks its webhook subscriptions with it, the feed filters with it)."""

import fnmatch

RECORDING_TYPES = ("recording.requested", "recording.available", "recording.verified", "recording.failed",
                   "recording.missing", "recording.paused", "recording.resumed", "recording.stopped",
                   "recording.copied", "recording.held", "recording.released", "recording.deleted")
TYPES = (*RECORDING_TYPES, "call.consent")
TEST = "webhook.test"  # sent by flask webhooks check only; never in the log


def matching(patterns) -> tuple[str, ...]:
    """The types any of ``patterns`` (globs: ``recording.*``, ``call.consent``) matches."""
    return tuple(t for t in TYPES if any(fnmatch.fnmatchcase(t, pattern) for pattern in patterns))
