import pytest

from app.storage import Location, LocationError, parse_location
from app.storage.keys import KeyTemplate


@pytest.mark.parametrize("text, expected", [
    ("s3://bucket/calls/a b.mp3", Location("s3", "bucket", "calls/a b.mp3")),
    ("s3://bucket/calls/a%20b.mp3", Location("s3", "bucket", "calls/a b.mp3")),
    ("azure://acct/cont/dir/x.wav", Location("azure", "cont", "dir/x.wav", "acct")),
    ("gs://bkt/2026-11/c-1.mp3", Location("gs", "bkt", "2026-11/c-1.mp3")),
    ("https://bucket.s3.amazonaws.com/calls/x.mp3", Location("s3", "bucket", "calls/x.mp3")),
    ("https://bucket.s3.eu-central-1.amazonaws.com/x.mp3", Location("s3", "bucket", "x.mp3")),
    ("https://s3.eu-central-1.amazonaws.com/bucket/x.mp3", Location("s3", "bucket", "x.mp3")),
    ("https://acct.blob.core.windows.net/cont/x.mp3", Location("azure", "cont", "x.mp3", "acct")),
    ("https://storage.googleapis.com/bkt/x.mp3", Location("gs", "bkt", "x.mp3")),
    ("https://bkt.storage.googleapis.com/x.mp3", Location("gs", "bkt", "x.mp3")),
])
def test_uris_and_https_forms_parse_to_one_location(text, expected):
    assert parse_location(text) == expected


def test_canonical_uri_round_trips():
    for uri in ("s3://b/k/x.mp3", "azure://a/c/k.wav", "gs://b/k"):
        assert parse_location(uri).uri == uri


@pytest.mark.parametrize("text", ["ftp://x/y", "s3://bucket", "s3://bucket/", "azure://acct/cont",
                                  "https://example.com/x.mp3", "https://www.sinch.com/calling/v1/recording/x.mp3"])
def test_not_an_object_location(text):
    with pytest.raises(LocationError):
        parse_location(text)


def test_key_template_container():
    assert KeyTemplate.parse("s3://b/{uuid}").container == "b"
    assert KeyTemplate.parse("azure://acct/cont/{uuid}").container == "acct/cont"
