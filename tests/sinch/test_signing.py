import base64
from datetime import datetime, timedelta, timezone

import pytest

from app.sinch import signing
from app.sinch.signing import content_md5, parse_timestamp, sign, signature, string_to_sign, verify

# Reference §5.2: the documented callback example, recomputed and verified there.
KEY = "669E367E-6BBA-48AB-AF15-266871C28135"
SECRET = "BeIukql3pTKJ8RGL5zo0DA=="
BODY = b'{"event":"ace","callid":"822aa4b7-05b4-4d83-87c7-1f835ee0b6f6_257","timestamp":"2014-09-24T10:59:41Z","version":1}'
STAMP = "2014-09-24T10:59:41Z"
PATH = "/sinch/callback/ace"
SIG = "Tg6fMyo8mj9pYfWQ9ssbx3Tc1BNC87IEygAfLbJqZb4="
AT = datetime(2014, 9, 24, 10, 59, 41, tzinfo=timezone.utc)
APPS = {KEY: base64.b64decode(SECRET)}


def check(**overrides):
    request = dict(authorization=f"application {KEY}:{SIG}", timestamp=STAMP, content_type="application/json",
                   method="POST", path=PATH, body=BODY, applications=APPS, max_skew=600, now=AT)
    request.update(overrides)
    return verify(**request)


def test_documented_vector_content_md5_and_string_to_sign():
    assert content_md5(BODY) == "REWF+X220L4/Gw1spXOU7g=="
    assert string_to_sign("POST", BODY, "application/json", STAMP, PATH) == (
        "POST\nREWF+X220L4/Gw1spXOU7g==\napplication/json\nx-timestamp:2014-09-24T10:59:41Z\n/sinch/callback/ace"
    )


def test_documented_vector_signature():
    text = string_to_sign("POST", BODY, "application/json", STAMP, PATH)
    assert signature(base64.b64decode(SECRET), text) == SIG


def test_documented_vector_verifies():
    verdict = check()
    assert verdict.ok and verdict.reason == signing.OK and verdict.application_key == KEY


def test_sign_reproduces_the_documented_header():
    headers = sign(KEY, SECRET, method="POST", path=PATH, body=BODY, timestamp=STAMP)
    assert headers["Authorization"] == f"Application {KEY}:{SIG}"
    assert headers["x-timestamp"] == STAMP and headers["Content-Type"] == "application/json"


def test_content_type_is_signed_exactly_as_received():
    headers = sign(KEY, SECRET, method="POST", path=PATH, body=BODY, timestamp=STAMP,
                   content_type="application/json; charset=utf-8")
    assert headers["Authorization"].endswith(":+7IX6MJJ6hapyCsjPaOlzOfQAE8XAFAogUxTYQiSzmQ=")
    assert check(content_type="application/json; charset=utf-8").reason == signing.BAD_SIGNATURE


@pytest.mark.parametrize("path, expected", [
    ("/v1/sms/+46700000000", "qDXMwzfaxCRS849c/2R0hg0nphgdHciTo7OdM6MsdnM="),
    ("/calling/v1/callouts", "aS9fG2smJx6MIhPJDSNiaDQ1D3+e493HuL+VVA9pqyM="),
])
def test_request_signing_vector(path, expected):
    """Reference §4.2: the request-signing example, with the path its signature really belongs to."""
    body = b'{"message":"Hello world"}'
    assert content_md5(body) == "jANzQ+rgAHyf1MWQFSwvYw=="
    headers = sign("5F5C418A0F914BBC8234A9BF5EDDAD97", "JViE5vDor0Sw3WllZka15Q==", method="POST",
                   path=path, body=body, timestamp="2014-06-04T13:41:58Z")
    assert headers["Authorization"] == f"Application 5F5C418A0F914BBC8234A9BF5EDDAD97:{expected}"


def test_empty_body_has_an_empty_content_md5():
    assert content_md5(b"") == ""
    assert string_to_sign("get", b"", "", "t", "/p").split("\n")[:3] == ["GET", "", ""]


def test_scheme_word_is_case_insensitive():
    assert check(authorization=f"Application {KEY}:{SIG}").ok
    assert check(authorization=f"APPLICATION {KEY}:{SIG}").ok


def test_several_applications_each_verify():
    other = base64.b64encode(b"second secret!!!").decode()
    apps = {**APPS, "second-key": base64.b64decode(other)}
    headers = sign("second-key", other, method="POST", path=PATH, body=BODY, timestamp=STAMP)
    assert check(authorization=headers["Authorization"], applications=apps).application_key == "second-key"
    assert check(applications=apps).ok


@pytest.mark.parametrize("overrides, reason", [
    ({"authorization": None}, signing.MISSING),
    ({"authorization": ""}, signing.MISSING),
    ({"authorization": "application"}, signing.MALFORMED),
    ({"authorization": f"application {KEY}"}, signing.MALFORMED),
    ({"authorization": f"application {KEY}:"}, signing.MALFORMED),
    ({"authorization": f"application :{SIG}"}, signing.MALFORMED),
    ({"authorization": f"Basic {KEY}:{SIG}"}, signing.UNSUPPORTED_SCHEME),
    ({"authorization": f"application nobody:{SIG}"}, signing.UNKNOWN_KEY),
    ({"timestamp": None}, signing.MISSING_TIMESTAMP),
    ({"timestamp": "yesterday"}, signing.BAD_TIMESTAMP),
    ({"now": AT + timedelta(seconds=601)}, signing.STALE),
    ({"now": AT - timedelta(seconds=601)}, signing.STALE),
    ({"body": BODY + b" "}, signing.BAD_SIGNATURE),
    ({"path": "/sinch/callback"}, signing.BAD_SIGNATURE),
    ({"method": "PUT"}, signing.BAD_SIGNATURE),
    ({"authorization": f"application {KEY}:{SIG[:-4]}AAA="}, signing.BAD_SIGNATURE),
])
def test_refusals_name_their_reason(overrides, reason):
    verdict = check(**overrides)
    assert not verdict.ok and verdict.reason == reason
    assert SECRET not in verdict.message


def test_window_edges_are_inclusive():
    assert check(now=AT + timedelta(seconds=600)).ok
    assert check(now=AT - timedelta(seconds=600)).ok
    assert check(max_skew=5, now=AT + timedelta(seconds=6)).reason == signing.STALE


def test_timestamps_with_seven_digit_fractions_and_offsets():
    assert parse_timestamp("2014-06-02T15:39:31.2729234Z") == datetime(2014, 6, 2, 15, 39, 31, 272923, tzinfo=timezone.utc)
    assert parse_timestamp("2014-06-02T17:39:31+02:00") == datetime(2014, 6, 2, 15, 39, 31, tzinfo=timezone.utc)
    assert parse_timestamp("2014-06-02T15:39:31") == datetime(2014, 6, 2, 15, 39, 31, tzinfo=timezone.utc)
    assert parse_timestamp("not a time") is None
    stamp = "2014-09-24T10:59:41.1234567Z"
    headers = sign(KEY, SECRET, method="POST", path=PATH, body=BODY, timestamp=stamp)
    assert check(authorization=headers["Authorization"], timestamp=stamp).ok


def test_sign_defaults_to_a_fresh_utc_timestamp():
    headers = sign(KEY, SECRET, method="POST", path=PATH, body=BODY)
    moment = parse_timestamp(headers["x-timestamp"])
    assert headers["x-timestamp"].endswith("Z")
    assert abs((datetime.now(timezone.utc) - moment).total_seconds()) < 60
