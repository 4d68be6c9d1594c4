from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from app.rules.matching import PatternSet, Window, canonical, in_sample, parse_days, sample_bucket


@pytest.mark.parametrize("value, expected", [
    ("+46 8-123 45", "46812345"), ("46812345", "46812345"), ("(08) 123", "08123"),
    ("Bob", "bob"), ("46708000000@SIP.example.com", "46708000000@sip.example.com"),
])
def test_canonical_forms(value, expected):
    assert canonical(value) == expected


@pytest.mark.parametrize("patterns, value, hit", [
    (["+46812345678"], "+46812345678", "+46812345678"),
    (["+46812345678"], "46812345678", "+46812345678"),       # Sinch sends cli with and without +
    (["+46812345678"], "+468123456789", None),
    (["+4681234*"], "+46812349999", "+4681234*"),
    (["+4681234*"], "+4681235", None),
    (["*"], "anything", "*"),
    (["*"], None, None),                                     # * needs the value to be there
    (["+4670*", "!+467099*"], "+46701234567", "+4670*"),
    (["+4670*", "!+467099*"], "+46709912345", None),
    (["!+1900*"], "+46701234567", "!+1900*"),
    (["!+1900*"], "+19005551234", None),
    (["!+1900*"], None, "(absent)"),
    (["bob", "alice"], "ALICE", "alice"),
    (["*@sip.example.com"], "x@sip.example.com", None),      # * only ends a pattern
])
def test_patterns(patterns, value, hit):
    if any("*" in p[:-1] for p in patterns):
        with pytest.raises(ValueError):
            PatternSet.parse(patterns)
        return
    assert PatternSet.parse(patterns).match(value) == hit


@pytest.mark.parametrize("spec, days", [
    ("mon-fri", {0, 1, 2, 3, 4}), ("sat,sun", {5, 6}), (["mon", "wed"], {0, 2}), ("fri-mon", {4, 5, 6, 0}),
    ("all", set(range(7))), ("tue", {1}),
])
def test_days(spec, days):
    assert parse_days(spec) == days


STOCKHOLM = ZoneInfo("Europe/Stockholm")
OFFICE = Window(parse_days("mon-fri"), time(8), time(18), STOCKHOLM, "office")
NIGHT = Window(parse_days("mon-fri"), time(22), time(6), STOCKHOLM, "night")


@pytest.mark.parametrize("window, local, inside", [
    (OFFICE, datetime(2026, 11, 23, 8, 0), True),       # Monday 08:00
    (OFFICE, datetime(2026, 11, 23, 7, 59), False),
    (OFFICE, datetime(2026, 11, 23, 18, 0), False),     # the end is exclusive
    (OFFICE, datetime(2026, 11, 28, 12, 0), False),     # Saturday
    (OFFICE, datetime(2026, 7, 1, 8, 30), True),        # summer time: still local 08:30
    (NIGHT, datetime(2026, 11, 27, 23, 0), True),       # Friday night
    (NIGHT, datetime(2026, 11, 28, 5, 0), True),        # Saturday early: Friday's window
    (NIGHT, datetime(2026, 11, 29, 5, 0), False),       # Sunday early: Saturday has no window
    (NIGHT, datetime(2026, 11, 23, 12, 0), False),
])
def test_windows_in_local_time(window, local, inside):
    assert window.contains(local.replace(tzinfo=STOCKHOLM).astimezone(timezone.utc)) is inside


def test_sampling_is_deterministic_and_proportional():
    assert sample_bucket("sales", "call-1") == sample_bucket("sales", "call-1")
    assert sample_bucket("sales", "call-1") == 7802  # fixed forever: same answer in every process
    chosen = sum(in_sample(50, "sales", f"call-{i}")[0] for i in range(10000))
    assert 4800 < chosen < 5200
    assert sum(in_sample(12.5, "r", f"c{i}")[0] for i in range(10000)) in range(1100, 1400)
    assert not any(in_sample(0, "r", f"c{i}")[0] for i in range(1000))
    assert all(in_sample(100, "r", f"c{i}")[0] for i in range(1000))
