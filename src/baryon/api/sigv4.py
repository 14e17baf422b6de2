"""Server-side SigV4 verification using botocore's own signer.

The expected signature is recomputed from the signed headers only (botocore would otherwise
sign every header it sees) and the client's own X-Amz-Date, then compared in constant time.
Error codes and wording follow AWS so that boto3 and the CLI present them as users expect.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from baryon.api.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."


@dataclass(frozen=True)
class Authorization:
    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    raw_path: str  # exactly as the client sent it, percent-encoding included
    query_string: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


def parse_authorization(header: str | None) -> Authorization:
    if not header:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(
            f"Unsupported authorization type '{algorithm}'; only {ALGORITHM} is accepted."
        )
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts[key.strip()] = value.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in parts]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
            + f" Authorization={header.split(' ', 1)[0]} ..."
        )
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise IncompleteSignatureException(
            "Credential must have the form <AccessKeyId>/<yyyyMMdd>/<region>/<service>/"
            f"aws4_request, got '{'/'.join(scope[1:])}'."
        )
    return Authorization(
        access_key_id=scope[0],
        scope_date=scope[1],
        region=scope[2],
        service=scope[3],
        signed_headers=[h for h in parts["SignedHeaders"].lower().split(";") if h],
        signature=parts["Signature"],
    )


@dataclass(frozen=True)
class Admission:
    """What the headers alone prove: everything but the signature, which covers the body."""

    authorization: Authorization
    amz_date: str
    secret: str


def verify(
    request: IncomingRequest,
    *,
    regions: frozenset[str],
    services: frozenset[str],
    secret_for: Callable[[str], str | None],
    max_skew: timedelta,
    now: datetime | None = None,
) -> Authorization:
    """Returns the verified authorization or raises the error AWS would answer with."""
    admission = admit(
        request.headers,
        regions=regions,
        services=services,
        secret_for=secret_for,
        max_skew=max_skew,
        now=now,
    )
    return verify_signature(request, admission)


def admit(
    headers: Mapping[str, str],
    *,
    regions: frozenset[str],
    services: frozenset[str],
    secret_for: Callable[[str], str | None],
    max_skew: timedelta,
    now: datetime | None = None,
) -> Admission:
    """Checks everything that does not need the body, so that a server reads bodies only
    from callers who name one of its active keys in a well-formed, current, fitting scope
    (a region among ``regions``, a service among ``services``)."""
    auth = parse_authorization(headers.get("authorization"))
    amz_date = headers.get("x-amz-date")
    if not amz_date:
        raise IncompleteSignatureException("Authorization requires an X-Amz-Date header.")
    try:
        signed_at = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise IncompleteSignatureException(
            f"X-Amz-Date '{amz_date}' is not in the form yyyyMMdd'T'HHmmss'Z'."
        ) from exc
    if auth.scope_date != amz_date[:8]:
        raise InvalidSignatureException(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{auth.scope_date}' != '{amz_date[:8]}'"
        )
    _check_clock(signed_at, now or datetime.now(UTC), max_skew)
    if auth.service not in services:
        expected = sorted(services)[0] if len(services) == 1 else "/".join(sorted(services))
        raise InvalidSignatureException(
            f"Credential should be scoped to correct service: '{expected}'."
        )
    if auth.region not in regions:
        # The region picks the cell that answers (api/front_door.py): one this Baryon does
        # not serve is refused as AWS refuses a region an endpoint does not serve.
        served = ", ".join(f"'{name}'" for name in sorted(regions))
        raise InvalidSignatureException(
            f"Credential should be scoped to a valid region, not '{auth.region}'. "
            f"This server serves {served}."
        )
    for required in ("host", "x-amz-date"):
        if required not in auth.signed_headers:
            raise IncompleteSignatureException(
                f"'{required}' must be a signed header. "
                f"SignedHeaders={';'.join(auth.signed_headers)}"
            )
    missing = [h for h in auth.signed_headers if h not in headers]
    if missing:
        raise IncompleteSignatureException(
            f"Signed header(s) not present in the request: {', '.join(missing)}."
        )
    if "x-amz-security-token" in headers:
        # Baryon issues long-term keys only; a session token cannot be one of ours.
        raise UnrecognizedClientException(INVALID_TOKEN)
    secret = secret_for(auth.access_key_id)
    if secret is None:
        raise UnrecognizedClientException(INVALID_TOKEN)
    return Admission(authorization=auth, amz_date=amz_date, secret=secret)


def verify_signature(request: IncomingRequest, admission: Admission) -> Authorization:
    """The rest of the verification, once the body is here."""
    _check_payload_hash(request)
    auth = admission.authorization
    expected = _expected_signature(request, auth, admission.secret, admission.amz_date)
    if not hmac.compare_digest(expected, auth.signature):
        raise InvalidSignatureException(BAD_SIGNATURE)
    return auth


def _check_clock(signed_at: datetime, now: datetime, max_skew: timedelta) -> None:
    stamp = signed_at.strftime(AMZ_DATE_FORMAT)
    minutes = int(max_skew.total_seconds() // 60)
    if signed_at < now - max_skew:
        earliest = (now - max_skew).strftime(AMZ_DATE_FORMAT)
        raise InvalidSignatureException(
            f"Signature expired: {stamp} is now earlier than {earliest} "
            f"({now.strftime(AMZ_DATE_FORMAT)} - {minutes} min.)"
        )
    if signed_at > now + max_skew:
        latest = (now + max_skew).strftime(AMZ_DATE_FORMAT)
        raise InvalidSignatureException(
            f"Signature not yet current: {stamp} is still later than {latest} "
            f"({now.strftime(AMZ_DATE_FORMAT)} + {minutes} min.)"
        )


def _check_payload_hash(request: IncomingRequest) -> None:
    declared = request.headers.get("x-amz-content-sha256")
    if declared is None:
        return
    actual = hashlib.sha256(request.body).hexdigest()
    # An unsigned payload would leave the request body unauthenticated: refuse it.
    if not hmac.compare_digest(declared.lower(), actual):
        raise InvalidSignatureException(
            "The provided X-Amz-Content-SHA256 header does not match the request body."
        )


def _expected_signature(
    request: IncomingRequest, auth: Authorization, secret: str, amz_date: str
) -> str:
    url = f"http://{request.headers['host']}{request.raw_path}"
    if request.query_string:
        url += f"?{request.query_string}"
    aws_request = AWSRequest(
        method=request.method,
        url=url,
        headers={name: request.headers[name] for name in auth.signed_headers},
        data=request.body,
    )
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(auth.access_key_id, secret), auth.service, auth.region)
    canonical = signer.canonical_request(aws_request)
    string_to_sign = signer.string_to_sign(aws_request, canonical)
    key = signing_key(secret, auth.scope_date, auth.region, auth.service)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=1024)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key (four HMACs), the same for every request a key signs in a day, a
    region and a service. Keyed by the secret itself, so a secret read afresh from the
    database on every request (revocation) still decides; a key that is deleted is never
    asked for again."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
