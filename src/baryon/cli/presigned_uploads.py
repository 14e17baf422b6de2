"""Uploading an archive to Baryon's bundle bucket with only a Baryon access key.

The server presigns a PUT and a DELETE for a fresh key (CreateBundleUpload) with its own cloud
credentials; this sends the archive there with httpx, and deletes it again when what it was
uploaded for failed. Against real AWS a Baryon key is no AWS credential, so this is how
``baryon template publish`` and ``baryon import`` reach the bucket.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Any

import httpx

from baryon.cli.api_clients import call
from baryon.cli.failures import CliFailure, ExitStatus
from baryon.service_models.baryon import BundleUploadPurpose

# Sending the largest bundle (10 MiB by default) may take a while on a slow link; a cloud that
# stops answering fails the command instead of hanging it.
_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
# S3's error documents are a few hundred bytes; more is read no further.
_MAX_ERROR_BYTES = 64 * 1024


@dataclass(frozen=True)
class BundleUpload:
    """Where one archive goes, and the presigned URLs to put it there and remove it."""

    bucket: str
    key: str
    upload_url: str
    delete_url: str
    max_bytes: int

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def create_upload(
    baryon: Any,
    purpose: BundleUploadPurpose,
    archive: bytes,
    template_name: str | None = None,
) -> BundleUpload:
    """Asks the server for the archive's key and its URLs (refused over the purpose's
    limit)."""
    request: dict[str, Any] = {
        "purpose": purpose,
        "contentLength": len(archive),
        "contentSha256": hashlib.sha256(archive).hexdigest(),
    }
    if template_name is not None:
        request["templateName"] = template_name
    answer = call(baryon.create_bundle_upload, **request)
    return BundleUpload(
        bucket=answer["bucket"],
        key=answer["key"],
        upload_url=answer["uploadUrl"],
        delete_url=answer["deleteUrl"],
        max_bytes=answer["maxBytes"],
    )


def put_archive(upload: BundleUpload, archive: bytes) -> None:
    """PUTs ``archive`` to the presigned URL, signed for exactly its length and digest."""
    checksum = base64.b64encode(hashlib.sha256(archive).digest()).decode()
    _send("PUT", upload, upload.upload_url, archive, {"x-amz-checksum-sha256": checksum})


def delete_upload(upload: BundleUpload) -> None:
    _send("DELETE", upload, upload.delete_url, None, {})


def _send(
    method: str, upload: BundleUpload, url: str, body: bytes | None, headers: dict[str, str]
) -> None:
    try:
        with (
            httpx.Client(timeout=_TIMEOUT) as client,
            client.stream(method, url, content=body, headers=headers) as response,
        ):
            if response.is_success:
                return
            error = _s3_error(response)
    except httpx.HTTPError as exc:
        raise CliFailure(
            ExitStatus.SERVER_UNREACHABLE,
            f"{method} {upload.location} failed: {type(exc).__name__}: {exc}",
            "check that the bundle bucket's S3 endpoint is reachable from here",
        ) from exc
    raise CliFailure(
        ExitStatus.REFUSED,
        f"S3 refused the {method} of {upload.location}: HTTP {response.status_code} {error}",
    )


def _s3_error(response: httpx.Response) -> str:
    """S3's error code and message (``<Error><Code>..``), or nothing when it sent none."""
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= _MAX_ERROR_BYTES:
            break
    try:
        root = ElementTree.fromstring(data[:_MAX_ERROR_BYTES])
    except ElementTree.ParseError:
        return ""
    code = (root.findtext("Code") or "").strip()
    message = " ".join((root.findtext("Message") or "").split())
    return f"{code}: {message}" if code and message else code or message
