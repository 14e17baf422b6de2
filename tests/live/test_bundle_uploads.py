"""CreateBundleUpload against a live Baryon: a caller with only a Baryon key gets presigned URLs,
PUTs an archive with httpx into the local cloud's bundle bucket and DELETEs it again.

The local cloud is moto, which does not check presigned URLs: it accepts an expired URL, a
forged signature and a body whose length or checksum differs from the signed headers (the
last test shows it, so that the day moto starts checking, this docstring is updated and the
refusals are asserted instead). What real S3 would refuse is therefore tested here by what
the URL says: SigV4, signed by Baryon's cloud key (not the caller's), for a few minutes, over
the Content-Length and x-amz-checksum-sha256 headers, and the signature recomputed with the
cloud's secret.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore
import httpx
import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from baryon.modes.embedded import LOCAL_CLOUD_CREDENTIALS
from tests.support.processes import BaryonProcess, own_baryon

MAX_ARCHIVE = 4096
server = own_baryon("bundle-uploads", env={"BARYON_BUNDLE_MAX_ARCHIVE_BYTES": str(MAX_ARCHIVE)})


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _checksum(body: bytes) -> dict[str, str]:
    return {"x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(body).digest()).decode()}


def _upload(baryon: BaryonProcess, body: bytes, **request: Any) -> dict[str, Any]:
    request = {
        "purpose": "ENVIRONMENT_TEMPLATE",
        "templateName": "uploads",
        "contentLength": len(body),
        "contentSha256": _digest(body),
        **request,
    }
    answer: dict[str, Any] = baryon.client("baryon").create_bundle_upload(**request)
    return answer


def _query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def _object(baryon: BaryonProcess, bucket: str, key: str) -> bytes | None:
    s3: Any = baryon.client("s3")
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchKey"
        return None
    return body


def test_a_caller_with_a_baryon_key_puts_an_archive_and_deletes_it_again(
    server: BaryonProcess,
) -> None:
    body = b"\x1f\x8b bundle bytes " * 10
    upload = _upload(server, body)
    assert upload["bucket"] == server.client("baryon").get_server_info()["bundleBucket"]
    assert upload["key"].startswith("environment-templates/uploads/")
    assert upload["maxBytes"] == MAX_ARCHIVE

    put = httpx.put(upload["uploadUrl"], content=body, headers=_checksum(body), timeout=30)
    assert put.status_code == 200, put.text
    assert _object(server, upload["bucket"], upload["key"]) == body

    deleted = httpx.delete(upload["deleteUrl"], timeout=30)
    assert deleted.status_code == 204, deleted.text
    assert _object(server, upload["bucket"], upload["key"]) is None


def test_every_template_upload_gets_a_fresh_key_and_an_export_is_named_by_its_digest(
    server: BaryonProcess,
) -> None:
    body = b"the same bytes"
    first, second = _upload(server, body), _upload(server, body)
    assert first["key"] != second["key"]
    service = _upload(server, body, purpose="SERVICE_TEMPLATE", templateName="svc")
    assert service["key"].startswith("service-templates/svc/")

    exported = [
        server.client("baryon").create_bundle_upload(
            purpose="IMPORT", contentLength=len(body), contentSha256=_digest(body)
        )
        for _ in range(2)
    ]
    assert exported[0]["key"] == exported[1]["key"] == f"imports/{_digest(body)[:32]}.tar.gz"


def test_the_urls_are_sigv4_signed_by_the_cloud_key_for_the_length_and_digest(
    server: BaryonProcess,
) -> None:
    body = b"signed bytes"
    upload = _upload(server, body)
    query = _query(upload["uploadUrl"])
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    key_id, secret = LOCAL_CLOUD_CREDENTIALS
    region = server.exports["AWS_DEFAULT_REGION"]
    # Baryon's cloud key, never the caller's Baryon key.
    assert query["X-Amz-Credential"].split("/")[0] == key_id != server.exports["AWS_ACCESS_KEY_ID"]
    assert query["X-Amz-Credential"].split("/")[2:4] == [region, "s3"]
    assert query["X-Amz-SignedHeaders"].split(";") == [
        "content-length",
        "host",
        "x-amz-checksum-sha256",
    ]
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert upload["expiresAt"] - signed_at == timedelta(seconds=int(query["X-Amz-Expires"]))
    assert int(query["X-Amz-Expires"]) <= 15 * 60
    delete_query = _query(upload["deleteUrl"])
    assert delete_query["X-Amz-SignedHeaders"] == "host"
    assert upload["deleteExpiresAt"] > upload["expiresAt"]

    # The signature is the one S3 computes from the cloud's secret over those headers.
    again = _resigned(upload["uploadUrl"], body, key_id, secret, region, query)
    assert again == query["X-Amz-Signature"]
    forged = _resigned(upload["uploadUrl"], body + b"!", key_id, secret, region, query)
    assert forged != query["X-Amz-Signature"]


def test_an_archive_over_the_limit_or_a_template_upload_without_a_name_is_refused(
    server: BaryonProcess,
) -> None:
    baryon = server.client("baryon")
    with pytest.raises(ClientError) as too_large:
        baryon.create_bundle_upload(
            purpose="ENVIRONMENT_TEMPLATE",
            templateName="big",
            contentLength=MAX_ARCHIVE + 1,
            contentSha256="0" * 64,
        )
    assert too_large.value.response["Error"]["Code"] == "ValidationException"
    assert too_large.value.response["Error"]["Message"].startswith("contentLength: ")

    with pytest.raises(ClientError) as nameless:
        baryon.create_bundle_upload(
            purpose="SERVICE_TEMPLATE", contentLength=10, contentSha256="0" * 64
        )
    assert nameless.value.response["Error"]["Code"] == "ValidationException"
    assert nameless.value.response["Error"]["Message"].startswith("templateName: ")

    with pytest.raises(ClientError) as bad_digest:
        baryon.create_bundle_upload(purpose="IMPORT", contentLength=10, contentSha256="Z" * 64)
    assert bad_digest.value.response["Error"]["Code"] == "ValidationException"


def test_a_caller_without_a_baryon_key_gets_no_urls(server: BaryonProcess) -> None:
    request = {
        "purpose": "ENVIRONMENT_TEMPLATE",
        "templateName": "anyone",
        "contentLength": 10,
        "contentSha256": "0" * 64,
    }
    unsigned = server.client("baryon", config=Config(signature_version=botocore.UNSIGNED))
    with pytest.raises(ClientError) as keyless:
        unsigned.create_bundle_upload(**request)
    assert keyless.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    assert "uploadUrl" not in keyless.value.response

    stranger = server.client(
        "baryon", aws_access_key_id="AKIASTRANGER0000000", aws_secret_access_key="wrong"
    )
    with pytest.raises(ClientError) as unknown:
        stranger.create_bundle_upload(**request)
    assert unknown.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_the_local_cloud_does_not_check_presigned_urls(server: BaryonProcess) -> None:
    """moto stores what an altered request sends; real S3 answers 403 SignatureDoesNotMatch
    (or 400 BadDigest). When this fails, moto has learnt to check: assert the refusals."""
    body = b"original bytes"
    upload = _upload(server, body)
    url = upload["uploadUrl"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    altered = b"altered bytes!"
    put = httpx.put(url, content=altered, headers=_checksum(body), timeout=30)
    assert put.status_code == 200
    assert _object(server, upload["bucket"], upload["key"]) == altered


def _resigned(
    url: str, body: bytes, key_id: str, secret: str, region: str, query: dict[str, str]
) -> str:
    """S3's own computation, with the cloud's secret, of the SigV4 query signature of a PUT
    of ``body`` to ``url`` at the URL's time (SigV4Auth.add_auth without reading the clock)."""
    parts = urlsplit(url)
    request = AWSRequest(
        method="PUT",
        url=f"{parts.scheme}://{parts.netloc}{parts.path}",
        headers={"Content-Length": str(len(body)), **_checksum(body)},
    )
    request.context["timestamp"] = query["X-Amz-Date"]
    auth = S3SigV4QueryAuth(
        Credentials(key_id, secret), "s3", region, expires=int(query["X-Amz-Expires"])
    )
    auth._modify_request_before_signing(request)
    signature: str = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    return signature
