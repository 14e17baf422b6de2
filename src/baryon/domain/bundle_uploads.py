"""Where an uploaded archive goes in the bundle bucket, and how large it may be.

A template bundle gets a fresh key, so its upload never replaces another one's object (a
version's source) and deleting it after a failure touches nothing else. An export is named by
its digest instead: StartImport resumes the unfinished import of the same source, so running
``baryon import`` again on the same export must name the same key (and S3 stores only that
content there: the upload URL is signed for the digest). The folders are those
``baryon template publish`` and ``baryon import`` always used.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from baryon.domain.errors import InvalidInput
from baryon.importing.limits import ExportLimits
from baryon.service_models.baryon import BundleUploadPurpose
from baryon.settings import Settings

_FOLDERS = {
    BundleUploadPurpose.ENVIRONMENT_TEMPLATE: "environment-templates",
    BundleUploadPurpose.SERVICE_TEMPLATE: "service-templates",
}


@dataclass(frozen=True)
class UploadPlace:
    key: str
    max_bytes: int


def upload_place(
    settings: Settings,
    purpose: BundleUploadPurpose,
    template_name: str | None,
    content_length: int,
    content_sha256: str,
) -> UploadPlace:
    """The key for ``purpose``; refuses an archive over the limit its reader applies."""
    if purpose == BundleUploadPurpose.IMPORT:
        if template_name is not None:
            raise InvalidInput.at(("templateName",), "an import's upload names no template.")
        # The import job's own limit (engine/imports.py reads with the same one).
        limit = ExportLimits(bundle=settings.bundle_limits).max_archive_bytes
        key = f"imports/{content_sha256[:32]}.tar.gz"
    else:
        if template_name is None:
            raise InvalidInput.at(
                ("templateName",), f"a {purpose} upload names the template it is for."
            )
        # The registration job's own limit (engine/registration.py).
        limit = settings.bundle_max_archive_bytes
        key = f"{_FOLDERS[BundleUploadPurpose(purpose)]}/{template_name}/{uuid.uuid4().hex}.tar.gz"
    if content_length > limit:
        raise InvalidInput.at(
            ("contentLength",),
            f"the archive is {content_length:,} bytes; a {purpose} upload may be at most "
            f"{limit:,} bytes.",
        )
    return UploadPlace(key=key, max_bytes=limit)
