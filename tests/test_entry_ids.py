"""Journal entry ids: unique, UUIDv7 (RFC 9562), and later ids sort later, so the journal's unique
index on them grows at its right edge (pure: no database)."""

import time
import uuid

from app.journal import Entry, ordered_id


def test_an_entry_id_is_a_uuid7_of_the_current_millisecond():
    before = time.time_ns() // 1_000_000
    made = ordered_id()
    after = time.time_ns() // 1_000_000
    parsed = uuid.UUID(made)
    assert len(made) == 32 and made == parsed.hex  # fits the String(32) column, as the UUIDv4s did
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert before <= parsed.int >> 80 <= after


def test_entry_ids_are_unique_and_sort_in_the_order_they_were_made():
    made = [ordered_id() for _ in range(50_000)]
    assert len(set(made)) == len(made)
    milliseconds = [int(one[:12], 16) for one in made]
    assert milliseconds == sorted(milliseconds)
    # Made in different milliseconds: in that order as text too (the order of the index)
    firsts = [next(one for one in made if int(one[:12], 16) == ms) for ms in sorted(set(milliseconds))]
    assert firsts == sorted(firsts) and len(firsts) > 1


def test_every_entry_gets_an_id_of_its_own():
    def entry():
        return Entry(received_at=None, request_id=None, path="/sinch/callback", content_type=None, body=b"",
                     signature="unchecked", status_code=200, outcome="accepted", handling_ms=0.0)

    first, second = entry(), entry()
    assert first.entry_id != second.entry_id and uuid.UUID(first.entry_id).version == 7
