"""The GCS write path Sinch uses: HMAC keys through the S3-compatible XML API (issue 17).

fake-gcs-server has no XML PUT, so SeaweedFS stands in for ``storage.googleapis.com``: the HMAC
key is one of its identities, and it checks SigV4 signatures, so a wrong secret or a wrong URL
shape fails here as it would at Google."""

from __future__ import annotations

import pytest
import yaml

from app.rules.schema import parse_ruleset
from app.simulator.platform import CallSpec, Endpoints, Platform
from app.storage import StorageError, parse_location, writer
from app.storage.preflight import check_destination
from tests.processes import Served
from tests.storage_servers import S3_SINCH, new_s3_bucket
from tests.support import CustomerApp


@pytest.fixture
def xml_bucket(s3_server):
    return new_s3_bucket(s3_server, "gcs-xml")


def test_sinchs_hmac_writer_reaches_the_xml_endpoint_and_a_wrong_secret_is_refused(s3_server, xml_bucket):
    bucket, client = xml_bucket
    location = parse_location(f"gs://{bucket}/calls/2026/x-1.mp3")
    good = writer(location, f"{S3_SINCH[0]}:{S3_SINCH[1]}", {"xml_endpoint": s3_server.endpoint})
    good.probe_write(location, b"recorded audio")
    assert client.get_object(Bucket=bucket, Key="calls/2026/x-1.mp3")["Body"].read() == b"recorded audio"
    wrong = writer(location, f"{S3_SINCH[0]}:not-the-secret", {"xml_endpoint": s3_server.endpoint})
    with pytest.raises(StorageError, match="the secret key does not match the access key"):
        wrong.probe_write(location, b"forged")


def test_destinations_check_writes_a_gs_probe_with_sinchs_hmac_key(s3_server, gcs_server, xml_bucket):
    bucket, _ = xml_bucket

    def destination(secret: str):
        ruleset = parse_ruleset(yaml.safe_dump({"version": 1, "allow_literal_credentials": True, "destinations": {
            "gcs": {"url": f"gs://{bucket}/{{callid}}-{{segment}}.{{format}}",
                    "sinch_credentials": f"{S3_SINCH[0]}:{secret}",
                    "read": {"endpoint": gcs_server.endpoint, "xml_endpoint": s3_server.endpoint}}},
            "rules": [{"id": "default", "connect": "dialled"}]}), {})
        return ruleset.destinations["gcs"]

    [write, *_] = check_destination(destination(S3_SINCH[1])).steps
    assert write.ok and write.name == "write with Sinch's credentials", write
    [write, *_] = check_destination(destination("not-the-secret")).steps
    assert not write.ok and "Sinch's credentials" in write.detail


def test_the_simulator_writes_gs_recordings_as_sinch_does_when_given_the_xml_endpoint(s3_server, xml_bucket):
    bucket, client = xml_bucket
    reply = {"instructions": [{"name": "startRecording", "options": {
        "destinationUrl": f"gs://{bucket}/sim/{{callid}}.mp3".replace("{callid}", "c-1"),
        "credentials": f"{S3_SINCH[0]}:{S3_SINCH[1]}", "format": "mp3", "notificationEvents": True}}],
        "action": {"name": "connectPstn", "number": "+46812345678"}}

    app = CustomerApp({"ice": reply, "ace": {"action": {"name": "continue"}}})  # records every call to gs://
    served = Served(app)
    try:
        platform = Platform(f"{served.url}/", "key", "c2VjcmV0", endpoints=Endpoints(gcs_xml=s3_server.endpoint))
        report = platform.call(CallSpec(call_id="c-1", duration=1))
    finally:
        served.close()
    assert len(report.uploads) == 1, report.problems  # what the simulator met, if the write failed
    [upload] = report.uploads
    assert upload.uri == f"gs://{bucket}/sim/c-1.mp3"
    assert len(client.get_object(Bucket=bucket, Key="sim/c-1.mp3")["Body"].read()) == upload.size
