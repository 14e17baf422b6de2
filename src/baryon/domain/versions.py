"""Which template version a resource deploys, and that version's schema and bundle.

Deployment types (Proton's rules): NONE changes metadata only; CURRENT_VERSION redeploys the
deployed version with a new spec; MINOR_VERSION moves to the recommended (or a named) minor of
the deployed major; MAJOR_VERSION moves to the recommended (or a named) higher major.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TypeAlias

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from baryon.bundles.json_schema import ref_name
from baryon.bundles.limits import BundleLimits
from baryon.bundles.loader import Bundle, load_bundle_bytes
from baryon.bundles.schema import TemplateSchema, parse_schema
from baryon.domain.errors import InvalidInput, NotFound
from baryon.domain.templates import TemplateKind, recommended_minors
from baryon.service_models.proton import (
    DeploymentUpdateType,
    Provisioning,
    TemplateVersionStatus,
)
from baryon.store.tables import Template, TemplateVersion


def version_numbered(
    session: Session, template: Template, major: int, minor: int
) -> TemplateVersion | None:
    params = {"template_id": template.id, "major": major, "minor": minor}
    return session.scalars(_NUMBERED, params).first()


# Built once (building a select and its cache key costs more than running it: issue 17).
_NUMBERED = select(TemplateVersion).where(
    TemplateVersion.template_id == bindparam("template_id"),
    TemplateVersion.major == bindparam("major"),
    TemplateVersion.minor == bindparam("minor"),
)
_RECOMMENDED = (
    select(TemplateVersion)
    .where(
        TemplateVersion.template_id == bindparam("template_id"),
        TemplateVersion.major == bindparam("major"),
        TemplateVersion.status == TemplateVersionStatus.PUBLISHED,
    )
    .order_by(TemplateVersion.minor.desc())
    .limit(1)
)


def published_version(
    session: Session, template: Template, major: int, minor: int | None
) -> TemplateVersion:
    """``major.minor``, or the recommended minor of ``major``; it must be PUBLISHED."""
    kind = TemplateKind(template.kind)
    if minor is None:
        # The recommended minor is the highest PUBLISHED one (templates.recommended_minors):
        # read as that version's row in one query, not the minors and then the row.
        params = {"template_id": template.id, "major": major}
        recommended = session.scalars(_RECOMMENDED, params).first()
        if recommended is None:
            raise InvalidInput(
                f"The {kind.label} '{template.name}' has no published version in major "
                f"version {major}."
            )
        return recommended
    version = version_numbered(session, template, major, minor)
    if version is None:
        raise NotFound(f"The {kind.label} version '{template.name}' {major}.{minor} was not found.")
    if version.status != TemplateVersionStatus.PUBLISHED:
        raise InvalidInput(
            f"The {kind.label} version '{template.name}' {major}.{minor} is {version.status}; "
            "only PUBLISHED versions can be deployed."
        )
    return version


def target_version(
    session: Session,
    template: Template,
    *,
    deployed: tuple[int, int],
    deployment_type: DeploymentUpdateType,
    major: str | None,
    minor: str | None,
) -> TemplateVersion:
    """The version an update of ``deployment_type`` moves a resource to."""
    current_major, current_minor = deployed
    wanted_major = None if major is None else int(major)
    wanted_minor = None if minor is None else int(minor)
    if deployment_type == DeploymentUpdateType.CURRENT_VERSION:
        # Proton: "Don't include minor or major version parameters" with CURRENT_VERSION.
        if major is not None or minor is not None:
            raise InvalidInput(
                "deploymentType CURRENT_VERSION keeps the deployed version "
                f"{current_major}.{current_minor} and takes no templateMajorVersion or "
                "templateMinorVersion; use MINOR_VERSION or MAJOR_VERSION to change the version.",
                field=("templateMajorVersion",) if major is not None else ("templateMinorVersion",),
            )
        return published_or_current(session, template, current_major, current_minor)
    if deployment_type == DeploymentUpdateType.MINOR_VERSION:
        if wanted_major not in (None, current_major):
            raise InvalidInput(
                f"deploymentType MINOR_VERSION stays in major version {current_major}; "
                "use MAJOR_VERSION to change the major version.",
                field=("templateMajorVersion",),
            )
        return published_version(session, template, current_major, wanted_minor)
    if deployment_type == DeploymentUpdateType.MAJOR_VERSION:
        if wanted_major is None:
            recommended = max(recommended_minors(session, template.id), default=None)
            if recommended is None or recommended <= current_major:
                raise InvalidInput(
                    f"There is no published major version of '{template.name}' higher than "
                    f"{current_major}.",
                    field=("templateMajorVersion",),
                )
            wanted_major = recommended
        if wanted_major <= current_major:
            raise InvalidInput(
                f"deploymentType MAJOR_VERSION moves to a higher major version than "
                f"{current_major}; got {wanted_major}.",
                field=("templateMajorVersion",),
            )
        return published_version(session, template, wanted_major, wanted_minor)
    raise InvalidInput(
        f"deploymentType {deployment_type} does not deploy a version.", field=("deploymentType",)
    )


def published_or_current(
    session: Session, template: Template, major: int, minor: int
) -> TemplateVersion:
    """The deployed version itself: redeploying it is allowed even if it is not the newest."""
    version = version_numbered(session, template, major, minor)
    if version is None:
        raise InvalidInput(
            f"The deployed version {major}.{minor} of '{template.name}' was deleted; deploy "
            "another version with MINOR_VERSION or MAJOR_VERSION."
        )
    return version


class _LruCache:
    """Parsed schemas and bundles by content digest: versions are immutable once DRAFT."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[str, object] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str) -> object | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: str, value: object) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


# The domain's view of a version's schema: its input types, each with the JSON schema a spec's
# values are checked against. Operations and the portal's forms name it by this alias, so that
# only the domain knows it is the bundle's parsed schema.yaml (bundles/schema.py).
VersionSchema: TypeAlias = TemplateSchema


def referenced_type(ref: str) -> str:
    """The input type a schema node's ``$ref`` names ("#/SvcInput" -> "SvcInput"), for a
    reader that walks a version's input types (the portal's forms)."""
    return ref_name(ref)


_SCHEMAS = _LruCache(256)
_BUNDLES = _LruCache(64)


def version_schema(version: TemplateVersion) -> VersionSchema:
    key = version.bundle_digest or f"id:{version.id}"
    cached = _SCHEMAS.get(key)
    if cached is None:
        cached = parse_schema(version.schema_text or "")
        _SCHEMAS.put(key, cached)
    return cached  # type: ignore[return-value]


def load_template_bundle(
    data: bytes, kind: TemplateKind, provisioning: str | None, limits: BundleLimits, workdir: Path
) -> Bundle:
    """Loads a bundle with the rules its template's provisioning imposes."""
    customer_managed = provisioning == Provisioning.CUSTOMER_MANAGED
    return load_bundle_bytes(
        data,
        kind.bundle_kind,
        customer_managed=customer_managed and kind is TemplateKind.ENVIRONMENT,
        pipeline_provisioning_customer_managed=customer_managed and kind is TemplateKind.SERVICE,
        limits=limits,
        workdir=workdir,
    )


def version_bundle(
    version: TemplateVersion, template: Template, limits: BundleLimits, workdir: Path
) -> Bundle:
    key = f"{version.bundle_digest or version.id}:{template.kind}:{template.provisioning}"
    cached = _BUNDLES.get(key)
    if cached is None:
        cached = load_template_bundle(
            version.bundle or b"",
            TemplateKind(template.kind),
            template.provisioning,
            limits,
            workdir,
        )
        _BUNDLES.put(key, cached)
    return cached  # type: ignore[return-value]
