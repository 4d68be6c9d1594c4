"""The probe's sampler keeps exactly the head and the tail of a stream, however it is chunked."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.recordings.probe import HEAD, TAIL, Sampler

SIZES = [0, 1, TAIL - 1, TAIL, TAIL + 1, HEAD - 1, HEAD, HEAD + TAIL + 3, 3 * HEAD]


@settings(max_examples=60, deadline=None)
@given(size=st.sampled_from(SIZES) | st.integers(0, 3 * HEAD),
       cuts=st.lists(st.integers(0, 3 * HEAD), max_size=40))
def test_head_and_tail_are_the_streams_own_whatever_the_chunks(size, cuts):
    data = (bytes(range(251)) * (size // 251 + 1))[:size]  # no period of 2**n: a misplaced tail shows
    bounds = sorted({0, size, *(cut for cut in cuts if cut <= size)})
    sampler = Sampler()
    for start, end in zip(bounds, bounds[1:]):
        sampler.feed(data[start:end])
        sampler.feed(b"")                      # an empty read on the way changes nothing
    assert sampler.size == size
    assert bytes(sampler.head) == data[:HEAD]
    assert sampler.tail == data[-TAIL:]


def test_it_keeps_no_more_chunks_than_the_tail_needs():
    sampler = Sampler()
    for _ in range(1000):
        sampler.feed(b"x" * 1000)
    assert sampler.tail == b"x" * TAIL
    assert sampler._kept < TAIL + 1000
