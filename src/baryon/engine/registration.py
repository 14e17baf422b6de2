"""The registration job: read a bundle from S3, check it, and end in DRAFT or REGISTRATION_FAILED.

Every step can be re-run: the job only acts while the version is REGISTRATION_IN_PROGRESS, so
a second worker taking over after a crash repeats harmless reads and one final write.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import select

from baryon.bundles.loader import Bundle
from baryon.cloud.clients import cloud_client
from baryon.domain.bundle_checks import (
    BundleRefused,
    check_minor_compatibility,
    check_template_bundle,
)
from baryon.domain.templates import TemplateKind
from baryon.engine.handlers import JobContext, TransientError, register_job
from baryon.service_models.proton import TemplateVersionStatus
from baryon.settings import Settings
from baryon.store.jobs import JobKind
from baryon.store.tables import TemplateVersion

log = logging.getLogger(__name__)

# S3 answers that no retry will change.
_PERMANENT_S3_CODES = {
    "NoSuchBucket",
    "NoSuchKey",
    "404",
    "NotFound",
    "AccessDenied",
    "403",
    "InvalidBucketName",
    "InvalidObjectState",
}


class RegistrationFailed(Exception):
    """The bundle cannot be registered; the message is shown to the user as statusMessage."""


def run(context: JobContext, payload: dict[str, Any]) -> None:
    runtime = context.runtime
    version_id = payload["version_id"]
    with runtime.db.session() as session:
        version = session.get(TemplateVersion, version_id)
        if version is None or version.status != TemplateVersionStatus.REGISTRATION_IN_PROGRESS:
            return  # deleted meanwhile, or a previous attempt already finished it
        template = version.template
        kind = TemplateKind(template.kind)
        provisioning = template.provisioning
        source = dict(version.source)
        major, minor = version.major, version.minor
        siblings = sibling_schemas(session, template.id, major, exclude=version.id)
    try:
        data = fetch_archive(runtime.settings, source["s3"]["bucket"], source["s3"]["key"])
        bundle = checked_bundle(runtime.settings, data, kind, provisioning)
        check_compatibility(bundle, siblings, major)
    except RegistrationFailed as failure:
        _finish(context, version_id, TemplateVersionStatus.REGISTRATION_FAILED, str(failure))
        return
    _finish(
        context,
        version_id,
        TemplateVersionStatus.DRAFT,
        "; ".join(bundle.warnings) or None,
        schema_text=bundle.schema.raw_text,
        bundle=data,
        bundle_digest=bundle.digest,
    )
    log.info("registered %s %s %d.%d", kind.label, template.name, major, minor)


def give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    _finish(
        context,
        payload["version_id"],
        TemplateVersionStatus.REGISTRATION_FAILED,
        f"Registration could not complete after {context.attempt} attempts: {error}",
    )


def fetch_archive(settings: Settings, bucket: str, key: str) -> bytes:
    location = f"s3://{bucket}/{key}"
    limit = settings.bundle_max_archive_bytes
    s3 = cloud_client(settings, "s3")
    try:
        size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        if size > limit:
            raise RegistrationFailed(
                f"{location} is {size:,} bytes; a template bundle may be at most {limit:,} bytes."
            )
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        data: bytes = body.read(limit + 1)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _PERMANENT_S3_CODES:
            reason = "does not exist" if code not in ("AccessDenied", "403") else "is not readable"
            raise RegistrationFailed(f"{location} {reason} ({code}).") from exc
        raise TransientError(f"reading {location} failed: {exc}") from exc
    except BotoCoreError as exc:
        raise TransientError(f"reading {location} failed: {exc}") from exc
    if len(data) > limit:
        raise RegistrationFailed(f"{location} exceeds {limit:,} bytes.")
    return data


def checked_bundle(
    settings: Settings, data: bytes, kind: TemplateKind, provisioning: str | None
) -> Bundle:
    """The bundle checks of every registration (an upload's, a template sync's): it loads,
    and its templates compile (domain/bundle_checks.py, which ``baryon template validate``
    runs too). Raises RegistrationFailed with the reason."""
    try:
        return check_template_bundle(
            data, kind, provisioning, settings.bundle_limits, settings.work_dir
        )
    except BundleRefused as exc:
        raise RegistrationFailed(str(exc)) from exc


def sibling_schemas(
    session: Any, template_id: int, major: int, *, exclude: int | None = None
) -> dict[str, str]:
    """Schemas of the registered minor versions of a major version (but version ``exclude``)."""
    rows = session.execute(
        select(TemplateVersion.major, TemplateVersion.minor, TemplateVersion.schema_text)
        .where(
            TemplateVersion.template_id == template_id,
            TemplateVersion.major == major,
            TemplateVersion.id != (exclude if exclude is not None else -1),
            TemplateVersion.status.in_(
                [TemplateVersionStatus.DRAFT, TemplateVersionStatus.PUBLISHED]
            ),
        )
        .order_by(TemplateVersion.minor)
    )
    return {f"{major}.{minor}": text for major, minor, text in rows if text}


def check_compatibility(bundle: Bundle, siblings: dict[str, str], major: int) -> None:
    """A minor version must accept every spec its siblings accept (no new information)."""
    try:
        check_minor_compatibility(bundle, siblings, major)
    except BundleRefused as exc:
        raise RegistrationFailed(str(exc)) from exc


def _finish(
    context: JobContext,
    version_id: int,
    status: TemplateVersionStatus,
    message: str | None,
    **values: Any,
) -> None:
    with context.runtime.db.session(write=True) as session:
        version = session.get(TemplateVersion, version_id, with_for_update=True)
        if version is None or version.status != TemplateVersionStatus.REGISTRATION_IN_PROGRESS:
            return
        version.status = status
        version.status_message = message
        version.last_modified_at = datetime.now(UTC)
        for name, value in values.items():
            setattr(version, name, value)


register_job(JobKind.REGISTER_TEMPLATE_VERSION, run, give_up)
