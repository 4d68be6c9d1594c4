"""The one storage interface, against SeaweedFS, Azurite and fake-gcs-server."""

import hashlib

import pytest
import requests

from app.storage import AccessDenied, Changed, NotFound, parse_location, reader, writer


@pytest.fixture
def backend(store):
    return reader(store.scheme, store.read)


def location(store, key: str):
    container = f"{store.name}" if store.scheme != "azure" else f"devstoreaccount1/{store.name}"
    return parse_location(f"{store.scheme}://{container}/{key}")


def test_stat_open_copy_delete(store, backend):
    data = bytes(range(256)) * 9000  # 2.3 MB: several chunks
    here, there = location(store, "a/one.bin"), location(store, "b/two.bin")
    store.upload(here.uri, data)
    info = backend.stat(here)
    assert info.size == len(data) and info.version
    assert info.md5 is None or info.md5 == hashlib.md5(data).digest()
    chunks = list(backend.open(here, version=info.version))
    assert len(chunks) >= 2 and b"".join(chunks) == data
    backend.copy(here, there)
    assert b"".join(backend.open(there)) == data
    backend.delete(here)
    with pytest.raises(NotFound):
        backend.stat(here)
    with pytest.raises(NotFound):
        list(backend.open(here))


def test_a_read_pinned_to_a_version_notices_a_replacement(store, backend):
    here = location(store, "pinned.bin")
    store.upload(here.uri, b"first version")
    version = backend.stat(here).version
    store.upload(here.uri, b"second, longer version")
    with pytest.raises(Changed):
        list(backend.open(here, version=version))


@pytest.mark.parametrize("store", ["s3", "azure"], indirect=True)  # GCS signing needs a service account
def test_presigned_links_download_the_object(store, backend):
    here = location(store, "shared.mp3")
    store.upload(here.uri, b"audio bytes")
    url = backend.presign(here, 60)
    assert requests.get(url, timeout=10).content == b"audio bytes"
    tampered = url.replace("shared.mp3", "other.mp3")
    assert requests.get(tampered, timeout=10).status_code in (403, 404)


@pytest.mark.parametrize("store", ["s3", "azure"], indirect=True)  # the GCS emulator checks no credentials
def test_wrong_credentials_are_refused_with_a_reason(store):
    here = location(store, "x.bin")
    if store.scheme == "s3":
        bad = reader("s3", {**store.read, "secret_key": "wrong-secret"})
    else:
        wrong = store.read["connection_string"].replace("AccountKey=Eby8", "AccountKey=Xby8")
        bad = reader("azure", {"connection_string": wrong})
    with pytest.raises(AccessDenied) as caught:
        bad.stat(here)
    assert "wrong-secret" not in str(caught.value) and "Xby8" not in str(caught.value)


@pytest.mark.parametrize("store", ["s3"], indirect=True)  # SeaweedFS has the write-only identity
def test_sinchs_write_only_credentials_can_write_but_not_read(store):
    here = location(store, "w.bin")
    sinch = writer(here, store.sinch_credentials, store.read)
    sinch.probe_write(here, b"probe")
    with pytest.raises(AccessDenied):
        sinch.stat(here)
    assert reader("s3", store.read).stat(here).size == 5


@pytest.mark.parametrize("region, endpoint_url", [("us-east-1", None), ("eu-central-1", None),
                                                  ("us-east-1", "https://s3.example.internal:9000")])
def test_s3_links_are_signed_with_sigv4_in_every_region_and_on_endpoints(region, endpoint_url):
    from urllib.parse import parse_qs, urlsplit

    backend = reader("s3", {"access_key": "AKIAEXAMPLE", "secret_key": "example-secret", "region": region,
                            **({"endpoint_url": endpoint_url} if endpoint_url else {})})
    query = parse_qs(urlsplit(backend.presign(parse_location("s3://bucket/calls/one.mp3"), 60)).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert f"/{region}/s3/aws4_request" in query["X-Amz-Credential"][0]
    assert "Signature" not in query and "AWSAccessKeyId" not in query


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_sigv4_link_downloads_from_a_store_that_checks_signatures(store, backend):
    here = location(store, "sigv4.mp3")
    store.upload(here.uri, b"sigv4 audio")
    url = backend.presign(here, 60)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert requests.get(url, timeout=10).content == b"sigv4 audio"


def test_a_store_that_dies_mid_read_is_a_storage_error_and_the_check_asks_to_retry(tmp_path):
    """SeaweedFS killed after the first chunk: the read says so as a StorageError (it leaked
    botocore's own error, which failed the check for good), and the check's verdict is retry."""
    import os
    import signal

    from app.recordings.verify import check
    from app.storage import StorageError
    from tests.support import a_big_object_on_a_store_of_its_own

    with a_big_object_on_a_store_of_its_own() as (server, backend, here, data):
        chunks = backend.open(here)
        first = next(chunks)
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        with pytest.raises(StorageError, match="stopped mid-read|cannot reach"):
            total = len(first) + sum(len(chunk) for chunk in chunks)
            assert total < len(data), "the whole object was buffered before the kill; the test proves nothing"
        assert check(backend, here, expected_format="mp3", min_duration_ms=0).outcome == "retry"


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_s3_gives_its_whole_object_checksums_and_verification_checks_them_itself(store, backend):
    """S3 keeps a checksum of the whole object when its upload sent one (boto3 sends a CRC32 by
    default; a SHA-256 if asked); a multipart upload's is the checksum of its parts' and is left
    out. Verification computes the CRC32 itself (zlib-ng), so its read asks the store for no
    checksum and botocore checks none (zlib's CRC32 was a third of a download's CPU); other reads
    still have botocore check it. Only verification's stat asks for the checksums: on an SSE-KMS
    object that needs kms:Decrypt, which an existence check (the sweeper's) should not."""
    import io
    import zlib

    from boto3.s3.transfer import TransferConfig

    from app.recordings.verify import inspect
    from tests.storage_servers import S3_SERVICE, s3_client

    data = bytes(range(256)) * 45_000  # 11.5 MB: three parts of 5 MB
    client = s3_client(store.server.endpoint, *S3_SERVICE)
    single, with_sha, multi = (location(store, name) for name in ("single.bin", "sha.bin", "multi.bin"))
    store.upload(single.uri, data)
    client.put_object(Bucket=store.name, Key=with_sha.key, Body=data, ChecksumAlgorithm="SHA256")
    client.upload_fileobj(io.BytesIO(data), store.name, multi.key,
                          Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))

    info = backend.stat(single, checksums=True)
    assert info.crc32 == zlib.crc32(data).to_bytes(4, "big") and info.sha256 is None
    assert backend.stat(with_sha, checksums=True).sha256 == hashlib.sha256(data).digest()
    assert backend.stat(multi, checksums=True).crc32 is None and backend.stat(multi, checksums=True).sha256 is None

    asked = []  # (operation, ChecksumMode) of each read the backend's client sends
    for operation in ("HeadObject", "GetObject"):
        backend.client.meta.events.register(
            f"before-parameter-build.s3.{operation}",
            lambda params, operation=operation, **_: asked.append((operation, params.get("ChecksumMode"))))
    found = inspect(backend, single)
    assert found.computed_crc32 == info.crc32 and found.sha256 == hashlib.sha256(data).hexdigest()
    assert inspect(backend, with_sha).sha256 == hashlib.sha256(data).hexdigest()
    assert b"".join(backend.open(single)) == data
    assert backend.stat(single).size == len(data)      # an existence check asks for no checksum (no kms:Decrypt)
    assert asked == [("HeadObject", "ENABLED"), ("GetObject", None), ("HeadObject", "ENABLED"), ("GetObject", None),
                     ("GetObject", "ENABLED"), ("HeadObject", None)]
