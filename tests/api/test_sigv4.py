"""SigV4 verification against requests signed by botocore itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from baryon.api.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from baryon.api.sigv4 import IncomingRequest, verify

KEY, SECRET = "BARYTESTKEY", "s3cr3t/+value"
SKEW = timedelta(minutes=15)


def _signed(
    body: bytes = b"{}",
    *,
    secret: str = SECRET,
    region: str = "us-east-1",
    service: str = "proton",
    when: datetime | None = None,
    path: str = "/",
    token: str | None = None,
) -> IncomingRequest:
    request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:8300{path}",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AwsProton20200720.ListServices",
        },
    )
    credentials = Credentials(KEY, secret, token)
    signer = SigV4Auth(credentials, service, region)
    when = when or datetime.now(UTC)
    request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    # add_auth stamps "now"; this reproduces it at a chosen time.
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    if token:
        request.headers["X-Amz-Security-Token"] = token
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed = ";".join(signer.headers_to_sign(request))
    scope = f"{KEY}/{request.context['timestamp'][:8]}/{region}/{service}/aws4_request"
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={signed}, Signature={signature}"
    )
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = "127.0.0.1:8300"
    return IncomingRequest("POST", path, "", headers, body)


def _verify(request: IncomingRequest, **kwargs):
    return verify(
        request,
        regions=frozenset({"us-east-1"}),
        services=frozenset({"proton"}),
        secret_for=lambda key: SECRET if key == KEY else None,
        max_skew=SKEW,
        now=kwargs.get("now"),
    )


def test_a_botocore_signature_verifies() -> None:
    assert _verify(_signed('{"name": "h\u00e9llo \u2603"}'.encode())).access_key_id == KEY


def test_path_prefix_is_part_of_the_signature() -> None:
    assert _verify(_signed(path="/proton-api/")).service == "proton"


def test_wrong_secret() -> None:
    with pytest.raises(InvalidSignatureException, match="does not match"):
        _verify(_signed(secret="wrong"))


def test_tampered_body() -> None:
    request = _signed(b'{"a":1}')
    tampered = IncomingRequest(request.method, request.raw_path, "", request.headers, b'{"a":2}')
    with pytest.raises(InvalidSignatureException):
        _verify(tampered)


def test_unknown_key() -> None:
    request = _signed()
    with pytest.raises(UnrecognizedClientException):
        verify(
            request,
            regions=frozenset({"us-east-1"}),
            services=frozenset({"proton"}),
            secret_for=lambda key: None,
            max_skew=SKEW,
        )


def test_clock_skew_both_ways() -> None:
    old = datetime.now(UTC) - timedelta(minutes=16)
    with pytest.raises(InvalidSignatureException, match="Signature expired"):
        _verify(_signed(when=old))
    future = datetime.now(UTC) + timedelta(minutes=16)
    with pytest.raises(InvalidSignatureException, match="not yet current"):
        _verify(_signed(when=future))
    _verify(_signed(when=datetime.now(UTC) - timedelta(minutes=14)))


def test_wrong_region_or_service_in_scope() -> None:
    with pytest.raises(InvalidSignatureException, match="valid region"):
        _verify(_signed(region="eu-west-1"))
    with pytest.raises(InvalidSignatureException, match="correct service: 'proton'"):
        _verify(_signed(service="s3"))


def test_missing_and_incomplete_authorization() -> None:
    request = _signed()
    headers = dict(request.headers)
    del headers["authorization"]
    with pytest.raises(MissingAuthenticationTokenException):
        _verify(IncomingRequest("POST", "/", "", headers, b"{}"))
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request"
    with pytest.raises(IncompleteSignatureException, match="'SignedHeaders'"):
        _verify(IncomingRequest("POST", "/", "", headers, b"{}"))
    headers["authorization"] = "Basic dXNlcjpwYXNz"
    with pytest.raises(IncompleteSignatureException, match="Unsupported"):
        _verify(IncomingRequest("POST", "/", "", headers, b"{}"))


def test_session_tokens_are_not_baryon_keys() -> None:
    with pytest.raises(UnrecognizedClientException):
        _verify(_signed(token="FwoGZXIvYXdzE"))


def test_a_key_whose_secret_changed_is_checked_against_the_new_secret() -> None:
    # The derived signing key is remembered per secret: a request verified once with the old
    # secret (warming that memory) must not let the old secret through once the key has a
    # new one.
    assert _verify(_signed()).access_key_id == KEY
    with pytest.raises(InvalidSignatureException, match="does not match"):
        verify(
            _signed(),
            regions=frozenset({"us-east-1"}),
            services=frozenset({"proton"}),
            secret_for=lambda key: "a new secret" if key == KEY else None,
            max_skew=SKEW,
        )
