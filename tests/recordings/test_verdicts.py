"""The verdict on an inspected file, and the status machine: pure functions."""

import hashlib

import pytest

from app.recordings import status
from app.recordings.probe import Probe
from app.recordings.verify import Inspection, judge
from app.storage import ObjectInfo

GOOD = Probe("mp3", 3100, 8000, 1)


def found(size=1000, probe=GOOD, store_md5=None, computed_md5=None, sha="a" * 64, crc=None, computed_crc=None,
          crc32=None, computed_crc32=None, store_sha=None):
    info = ObjectInfo(size, "v1", store_md5, crc, "audio/mpeg", crc32=crc32, sha256=store_sha)
    return Inspection(info, sha, probe, computed_md5, computed_crc, computed_crc32)


def verdict(inspection, **kwargs):
    return judge(inspection, **{"expected_format": "mp3", "min_duration_ms": 1000, **kwargs})


def test_verified_fields():
    result = verdict(found())
    assert result.outcome == "verified"
    assert result.fields == {"size_bytes": 1000, "sha256": "a" * 64, "duration_ms": 3100, "sample_rate": 8000,
                             "channels": 1, "content_type": "audio/mpeg"}


@pytest.mark.parametrize("inspection, kwargs, reason", [
    (found(size=0), {}, "empty file"),
    (found(store_md5=hashlib.md5(b"a").digest(), computed_md5=hashlib.md5(b"b").digest()), {}, "store's MD5"),
    (found(crc=b"\x00\x00\x00\x01", computed_crc=b"\x00\x00\x00\x02"), {}, "store's CRC32C"),
    (found(crc32=b"\x00\x00\x00\x01", computed_crc32=b"\x00\x00\x00\x02"), {}, "store's CRC32 is 00000001"),
    (found(store_sha=bytes.fromhex("b" * 64)), {}, "store's SHA-256 is " + "b" * 64),
    (found(), {"previous_sha256": "b" * 64}, "changed since it was verified"),
    (found(probe=Probe(None, None, None, None, "not an audio format we know")), {}, "not playable"),
    (found(probe=Probe("wav", 5000, 8000, 1)), {}, "wrong format: mp3 was requested but the file is wav"),
    (found(probe=Probe("mp3", 400, 8000, 1)), {}, "too short: 400 ms"),
])
def test_failures_say_why(inspection, kwargs, reason):
    result = verdict(inspection, **kwargs)
    assert result.outcome == "failed" and reason in result.reason


def test_matching_store_checksums_pass():
    digest = hashlib.md5(b"x").digest()
    assert verdict(found(store_md5=digest, computed_md5=digest)).outcome == "verified"
    crc32 = b"\x12\x34\x56\x78"
    result = verdict(found(crc32=crc32, computed_crc32=crc32, store_sha=bytes.fromhex("a" * 64)))
    assert result.outcome == "verified"
    assert result.checks["store_crc32"] == "12345678" and result.checks["store_sha256"] == "a" * 64


@pytest.mark.parametrize("current, wanted, result", [
    (None, "requested", "requested"),
    ("requested", "finished", "finished"),
    ("finished", "available", "available"),
    ("available", "finished", "available"),     # a late finished never moves it back
    ("verified", "available", "verified"),
    ("verified", "failed", "failed"),           # a re-check can find it changed
    ("missing", "available", "available"),      # found late
    ("deleted", "verified", "deleted"),
    ("failed", "verified", "verified"),
])
def test_status_moves_only_forward(current, wanted, result):
    assert status.next_status(current, wanted) == result


def test_unknown_status_is_refused():
    with pytest.raises(ValueError):
        status.next_status("requested", "lost")
