"""Presigned S3 URLs for the bundle bucket, signed with Baryon's own cloud credentials.

``baryon template publish`` and ``baryon import`` hold only a Baryon access key, which no
real S3 accepts; the server hands them URLs it signed itself. Presigning is a local HMAC
computation in botocore: no request leaves the process (ARCHITECTURE rule 3), except that
credentials from boto3's chain (an instance role) may be fetched or refreshed first, as for
any other call Baryon makes.

Its own client, not ``cloud_client``'s shared one, because presigning needs settings the
shared clients do not set: SigV4 (botocore still presigns S3 with SigV2 by default, which
signs no headers) and, on AWS, the bucket's regional virtual-hosted endpoint (botocore's
default names the global one, which redirects for buckets outside us-east-1).
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config

from baryon.settings import Settings

_SIGV4 = Config(signature_version="s3v4")


@dataclass(frozen=True)
class PresignedUrl:
    url: str
    # When S3 stops accepting it: the signing time the URL carries, plus its lifetime.
    expires_at: datetime

    @classmethod
    def of(cls, url: str) -> PresignedUrl:
        query = parse_qs(urlsplit(url).query)
        signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
        lifetime = timedelta(seconds=int(query["X-Amz-Expires"][0]))
        return cls(url, signed_at.replace(tzinfo=UTC) + lifetime)


class BundleUrlSigner:
    """Presigns PutObject and DeleteObject for one region's cloud (one Runtime cell)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Any = None
        self._lock = threading.Lock()

    def put_url(
        self, bucket: str, key: str, content_length: int, sha256_hex: str, expires_in: int
    ) -> PresignedUrl:
        """A PUT of exactly ``content_length`` bytes with digest ``sha256_hex``: both are
        signed headers (Content-Length, x-amz-checksum-sha256), so S3 refuses a body of any
        other size or content. A presigned PUT cannot carry a size *range* (only a presigned
        POST policy can); the exact size is the stronger limit."""
        checksum = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
        url: str = self._s3().generate_presigned_url(
            "put_object",
            Params={
                "Bucket": bucket,
                "Key": key,
                "ContentLength": content_length,
                "ChecksumSHA256": checksum,
            },
            ExpiresIn=expires_in,
        )
        return PresignedUrl.of(url)

    def delete_url(self, bucket: str, key: str, expires_in: int) -> PresignedUrl:
        url: str = self._s3().generate_presigned_url(
            "delete_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )
        return PresignedUrl.of(url)

    def _s3(self) -> Any:
        # Built on first use (loading S3's model costs ~0.1 s), then shared: botocore clients
        # are thread-safe and refresh chained credentials themselves.
        with self._lock:
            if self._client is None:
                self._client = _presigning_client(self._settings)
            return self._client


def _presigning_client(settings: Settings) -> Any:
    kwargs: dict[str, Any] = {"region_name": settings.region}
    if settings.cloud_access_key_id:
        kwargs["aws_access_key_id"] = settings.cloud_access_key_id
        kwargs["aws_secret_access_key"] = settings.cloud_secret_access_key
    session = boto3.session.Session()
    if settings.cloud_endpoint:
        # The local cloud (or another S3-compatible one): path-style, as its clients use.
        return session.client("s3", endpoint_url=settings.cloud_endpoint, config=_SIGV4, **kwargs)
    # AWS: the region's own endpoint (s3.<region>.amazonaws.com, or .com.cn), as botocore
    # resolves it for calls, and the bucket in the host name.
    regional = session.client("s3", config=_SIGV4, **kwargs).meta.endpoint_url
    return session.client(
        "s3",
        endpoint_url=regional,
        config=_SIGV4.merge(Config(s3={"addressing_style": "virtual"})),
        **kwargs,
    )
