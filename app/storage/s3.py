"""Amazon S3 and S3-compatible stores (boto3). Also GCS writes with HMAC keys (XML API)."""

from __future__ import annotations

import base64
from typing import BinaryIO, Iterator

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from app.storage.backend import CHUNK, PART, TIMEOUTS, AccessDenied, Changed, NotFound, ObjectInfo, StorageError
from app.storage.locations import Location

_ADVICE = {
    "SignatureDoesNotMatch": "the secret key does not match the access key",
    "InvalidAccessKeyId": "the access key is unknown to the store",
    "AccessDenied": "the credentials lack permission for this operation",
    "RequestTimeTooSkewed": "this machine's clock is too far from the store's; sync it (NTP)",
    "AuthorizationHeaderMalformed": "the region in the credentials does not match the bucket's region",
    "PermanentRedirect": "the bucket is in another region than the one configured",
    "NoSuchBucket": "the bucket does not exist; create it or fix the destination URL",
}


class S3Backend:
    scheme = "s3"

    def __init__(self, access_key: str | None, secret_key: str | None, region: str | None = None,
                 endpoint_url: str | None = None, session_token: str | None = None):
        # SigV4 everywhere: buckets made since 2020 (and every region opened since 2014) refuse
        # Signature Version 2, which botocore still uses for presigned URLs in some regions.
        config = Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint_url else "auto"},
                        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=TIMEOUTS["connect"],
                        read_timeout=TIMEOUTS["read"],
                        # A read's checksum is checked when open() asks for it (ChecksumMode), which
                        # it does unless its caller checks the bytes itself (verification).
                        response_checksum_validation="when_required")
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url or None, aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None, aws_session_token=session_token or None,
            region_name=region or None, config=config,
        )

    def _call(self, what: str, location: Location, function, **kwargs):
        try:
            return function(**kwargs)
        except ClientError as error:
            raise _translate(error, what, location) from None
        except (EndpointConnectionError, BotoCoreError) as error:
            raise StorageError(f"{what} {location}: cannot reach the store ({type(error).__name__})") from None

    def make_bucket(self, bucket: str) -> None:
        """Create a bucket unless it exists (the local store of ``flask sinch local-s3``)."""
        try:
            self.client.create_bucket(Bucket=bucket)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise StorageError(f"cannot create bucket {bucket}: {error.response['Error'].get('Code')}") from None
        except (EndpointConnectionError, BotoCoreError) as error:
            raise StorageError(f"cannot create bucket {bucket}: cannot reach the store ({type(error).__name__})") from None

    def stat(self, location: Location, checksums: bool = False) -> ObjectInfo:
        kwargs = {"ChecksumMode": "ENABLED"} if checksums else {}
        head = self._call("stat", location, self.client.head_object, Bucket=location.bucket, Key=location.key,
                          **kwargs)
        etag = head.get("ETag", "").strip('"')
        md5 = bytes.fromhex(etag) if len(etag) == 32 and "-" not in etag else None  # single-part only
        return ObjectInfo(size=head["ContentLength"], version=head.get("ETag"), md5=md5, md5_by_store=True,
                          content_type=head.get("ContentType"), crc32=_whole(head, "ChecksumCRC32"),
                          crc32c=_whole(head, "ChecksumCRC32C"), sha256=_whole(head, "ChecksumSHA256"))

    def open(self, location: Location, version: str | None = None, client_checks: bool = True) -> Iterator[bytes]:
        kwargs = {"IfMatch": version} if version else {}
        if client_checks:
            kwargs["ChecksumMode"] = "ENABLED"
        response = self._call("read", location, self.client.get_object, Bucket=location.bucket,
                              Key=location.key, **kwargs)
        body = response["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        except BotoCoreError as error:  # the connection broke mid-read (incomplete body, reset, timeout)
            raise StorageError(f"read {location}: the store stopped mid-read ({type(error).__name__})") from None
        finally:
            body.close()

    def presign(self, location: Location, expires_in: int) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": location.bucket, "Key": location.key}, ExpiresIn=expires_in)

    def copy(self, source: Location, target: Location) -> None:
        self._call("copy", target, self.client.copy, CopySource={"Bucket": source.bucket, "Key": source.key},
                   Bucket=target.bucket, Key=target.key)

    def upload(self, location: Location, stream: BinaryIO, size: int, content_type: str) -> None:
        config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=4)
        config.max_in_memory_upload_chunks = 4  # a non-seekable stream is buffered part by part
        self._call("write", location, self.client.upload_fileobj, Fileobj=stream, Bucket=location.bucket,
                   Key=location.key, ExtraArgs={"ContentType": content_type}, Config=config)

    def delete(self, location: Location) -> None:
        self._call("delete", location, self.client.delete_object, Bucket=location.bucket, Key=location.key)

    def probe_write(self, location: Location, data: bytes) -> None:
        self._call("write", location, self.client.put_object, Bucket=location.bucket, Key=location.key,
                   Body=data, ContentType="application/octet-stream")


def _whole(head: dict, name: str) -> bytes | None:
    """A checksum of the whole object from a HEAD's answer (base64), or None: none kept, or a
    multipart upload's composite one (the checksum of its parts' checksums, ``…-N``)."""
    value = head.get(name)
    if not value or "-" in value or head.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
        return None
    return base64.b64decode(value)


def _translate(error: ClientError, what: str, location: Location) -> StorageError:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("PreconditionFailed",) or status == 412:
        return Changed(f"{what} {location}: the object changed while it was being read")
    if code == "NoSuchBucket":
        return NotFound(f"{what} {location}: {_ADVICE[code]}")
    if code in ("404", "NoSuchKey", "NotFound") or status == 404:
        return NotFound(f"{what} {location}: no such object")
    advice = _ADVICE.get(code)
    if advice or status == 403:
        return AccessDenied(f"{what} {location}: {advice or 'access denied'} ({code or status})")
    return StorageError(f"{what} {location}: the store answered {code or status}")
