"""The body-deadline watcher shuts the reading side of a socket whose body is overdue, whether its
deadline is shorter than the watcher's idle look-around (it is woken for it) or not (it finds it
when it looks); a body read in time is left alone. Real sockets, no server."""

import socket

from app.bodies import _Watcher


def _overdue_read_ends(watcher: _Watcher, seconds: float) -> bool:
    reader, writer = socket.socketpair()
    with reader, writer:
        reader.settimeout(30)  # a bound for a broken watcher, not a measurement
        ticket = watcher.watch(reader, seconds)
        ended = reader.recv(1) == b""  # nothing was sent: only the watcher's shutdown ends the read
        return ended and watcher.release(ticket)


def test_a_body_overdue_by_a_short_deadline_is_cut_off():
    watcher = _Watcher()
    assert _overdue_read_ends(watcher, 0.05)
    assert _overdue_read_ends(watcher, 0.05)  # the watcher idles between them: woken again


def test_a_body_overdue_by_a_deadline_longer_than_the_idle_look_is_cut_off_without_a_wake_up():
    watcher = _Watcher()
    watcher.IDLE = 0.05
    assert _overdue_read_ends(watcher, 0.05)  # the first ticket wakes the thread it starts
    assert _overdue_read_ends(watcher, 0.2)   # found when the idle thread looks again


def test_a_body_read_in_time_is_left_alone():
    watcher = _Watcher()
    reader, writer = socket.socketpair()
    with reader, writer:
        ticket = watcher.watch(reader, 60)
        writer.sendall(b"x")
        assert reader.recv(1) == b"x"
        assert watcher.release(ticket) is False
