"""The catalogue's event log and what reads it: the webhooks and the feed.

``log`` — the append-only table, written in the transaction of each change, and the sequencer
that orders committed events for readers; ``webhooks`` — signing (Standard Webhooks) and the
rules for sending out; ``delivery`` — deliveries, attempts, retries, the dispatcher the worker
runs; ``cli`` — ``flask webhooks``. The API's views are in ``app.api.events``.
"""
