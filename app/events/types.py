"""The event types, as the feed and the webhooks name them (pure: the ruleset checks its
webhook subscriptions against them)."""

RECORDING_TYPES = ("recording.requested", "recording.available", "recording.verified", "recording.failed",
                   "recording.missing", "recording.paused", "recording.resumed", "recording.stopped",
                   "recording.copied", "recording.held", "recording.released", "recording.deleted")
TYPES = (*RECORDING_TYPES, "call.consent")
TEST = "webhook.test"  # sent by flask webhooks check only; never in the log
