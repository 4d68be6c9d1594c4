"""A copy with explicit credentials reaches only stores an operator allowed (issue 13): no
loopback, numeric or private address the caller names, no file path as credentials, and the
refusal is the same whether something listens there or not (nothing is connected to)."""

from __future__ import annotations

import pytest

from app.simulator.audio import audio
from app.storage.azure import AzureBackend
from app.storage.endpoints import refused_endpoint
from app.storage.locations import parse_location
from tests.storage_servers import AZURE_ACCOUNT, AZURE_KEY
from tests.support import Flow

TOKEN = "ssrf-token"


@pytest.fixture
def copying(make_app, store, queue, tmp_path):
    (tmp_path / "rules.yaml").write_text(store.ruleset())
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), API_TOKENS=TOKEN,
                   COPY_ALLOWED_ENDPOINTS="https://minio.internal.example:9000")
    flow = Flow(app, store, queue)
    recording = flow.verified("ssrf-1", audio("mp3", 2))
    return app, recording


@pytest.mark.parametrize("store", ["s3"], indirect=True)
@pytest.mark.parametrize("credentials", [
    {"endpoint_url": "http://127.0.0.1:6379", "access_key": "a", "secret_key": "b"},   # something listens
    {"endpoint_url": "http://127.0.0.1:1", "access_key": "a", "secret_key": "b"},      # nothing listens
    {"endpoint_url": "http://localhost:8333", "access_key": "a", "secret_key": "b"},
    {"endpoint_url": "http://127.1:8333", "access_key": "a", "secret_key": "b"},
    {"endpoint_url": "http://2130706433/", "access_key": "a", "secret_key": "b"},
    {"endpoint_url": "http://169.254.169.254/latest", "access_key": "a", "secret_key": "b"},
    {"endpoint_url": "https://52.216.0.1", "access_key": "a", "secret_key": "b"},       # numeric, even "public"
    {"endpoint_url": "http://evil.amazonaws.com.attacker.example", "access_key": "a", "secret_key": "b"},
])
def test_an_endpoint_nobody_allowed_is_refused_without_connecting(copying, credentials):
    app, recording = copying
    response = app.test_client().post(f"/api/v1/recordings/{recording.id}/copy", headers={
        "Authorization": f"Bearer {TOKEN}"}, json={"target": "s3://elsewhere/copy.mp3", "credentials": credentials})
    assert response.status_code == 403, response.json
    message = response.json["error"]["fields"]["credentials"][0]
    assert message.startswith(f"the endpoint {credentials['endpoint_url']} is not one this service may reach")
    assert "COPY_ALLOWED_ENDPOINTS" in message
    # the same words whether something listens there or not: only the URL given differs
    assert message.replace(credentials["endpoint_url"], "URL") == (
        "the endpoint URL is not one this service may reach: the public clouds, the ruleset's destinations and "
        "COPY_ALLOWED_ENDPOINTS are; ask an operator to add it there")


@pytest.mark.parametrize("store", ["gs"], indirect=True)
def test_gcs_credentials_are_content_never_a_path(copying):
    app, recording = copying
    response = app.test_client().post(f"/api/v1/recordings/{recording.id}/copy", headers={
        "Authorization": f"Bearer {TOKEN}"}, json={"target": "gs://elsewhere/copy.mp3",
                                                     "credentials": {"credentials_json": "/etc/passwd"}})
    assert response.status_code == 400 and "not a path" in response.json["error"]["message"]


def test_the_public_clouds_the_rulesets_and_the_operators_endpoints_are_allowed():
    allowed = ("https://minio.internal.example:9000",)
    assert refused_endpoint("s3", {"endpoint_url": "https://s3.eu-central-1.amazonaws.com"}, allowed) is None
    assert refused_endpoint("s3", {}, allowed) is None                                  # the public default
    assert refused_endpoint("s3", {"endpoint_url": "https://minio.internal.example:9000/"}, allowed) is None
    assert refused_endpoint("s3", {"endpoint_url": "http://minio.internal.example:9000"}, allowed) is not None
    assert refused_endpoint("azure", {"account_url": "https://acct.blob.core.windows.net"}, allowed) is None
    assert refused_endpoint("azure", {"connection_string": "BlobEndpoint=http://10.0.0.5:10000/a;"
                                                           "AccountName=a;AccountKey=eA=="}, allowed) is not None
    assert refused_endpoint("gs", {"xml_endpoint": "https://storage.googleapis.com"}, allowed) is None


def test_an_azure_account_url_with_a_key_connects(azure_server):
    """The account name a shared key needs comes from the account URL (it never reached the SDK)."""
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azure_server.extra["connection_string"])
    service.create_container("byurl")
    service.get_blob_client("byurl", "x.mp3").upload_blob(b"audio")
    backend = AzureBackend(account_url=azure_server.endpoint, account_key=AZURE_KEY)
    assert backend.account_name == AZURE_ACCOUNT
    assert backend.stat(parse_location(f"azure://{AZURE_ACCOUNT}/byurl/x.mp3")).size == 5
