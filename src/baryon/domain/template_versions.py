"""Template versions: numbering, registration, publishing, the recommended version, deletion.

A version is registered asynchronously: creating it records REGISTRATION_IN_PROGRESS and
enqueues a registration job in the same transaction; the job ends it in DRAFT or
REGISTRATION_FAILED. Only DRAFT -> PUBLISHED is a manual transition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baryon.domain.arns import Arns
from baryon.domain.deployments import ACTIVE, DeploymentOperation
from baryon.domain.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from baryon.domain.templates import TemplateKind, find_template, recommended_minors
from baryon.service_models.proton import TemplateVersionStatus
from baryon.store.jobs import JobKind, enqueue
from baryon.store.tables import (
    Deployment,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Tag,
    Template,
    TemplateVersion,
)


@dataclass(frozen=True)
class NewVersion:
    major: int | None  # None: start a new major version
    description: str | None
    source: dict[str, Any]
    compatible_environment_templates: list[dict[str, Any]] | None  # service templates only
    supported_component_sources: list[str] | None  # service templates only


def version_arn(arns: Arns, template: Template, version: TemplateVersion) -> str:
    kind = TemplateKind(template.kind)
    return arns.template_version(kind.arn_type, template.name, version.major, version.minor)


def find_version(
    session: Session, kind: TemplateKind, name: str, major: int, minor: int, *, lock: bool = False
) -> tuple[Template, TemplateVersion]:
    template = find_template(session, kind, name, lock=lock)
    stmt = select(TemplateVersion).where(
        TemplateVersion.template_id == template.id,
        TemplateVersion.major == major,
        TemplateVersion.minor == minor,
    )
    version = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if version is None:
        raise NotFound(f"The {kind.label} version '{name}' {major}.{minor} was not found.")
    return template, version


def version_by_id(
    session: Session, kind: TemplateKind, version_id: int
) -> tuple[Template, TemplateVersion]:
    version = session.get(TemplateVersion, version_id)
    if version is None:
        raise NotFound(f"The {kind.label} version was deleted.")
    return version.template, version


def create_version(
    session: Session,
    kind: TemplateKind,
    template_name: str,
    new: NewVersion,
    *,
    now: datetime,
    max_versions: int,
) -> tuple[Template, TemplateVersion]:
    # Locking the template serializes version numbering between concurrent creates.
    template = find_template(session, kind, template_name, lock=True)
    compatible = None
    if kind is TemplateKind.SERVICE:
        compatible = check_compatible_environments(
            session, new.compatible_environment_templates or []
        )
    check_version_quota(session, kind, template, max_versions)
    major, minor = _next_number(session, kind, template, new.major)
    version = TemplateVersion(
        template_id=template.id,
        major=major,
        minor=minor,
        status=TemplateVersionStatus.REGISTRATION_IN_PROGRESS,
        description=new.description,
        source=new.source,
        compatible_environment_templates=compatible,
        supported_component_sources=new.supported_component_sources,
        created_at=now,
        last_modified_at=now,
    )
    session.add(version)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"Version {major}.{minor} of {kind.label} '{template_name}' is being created "
            "by another request; retry."
        ) from exc
    enqueue(session, JobKind.REGISTER_TEMPLATE_VERSION, {"version_id": version.id}, now)
    return template, version


def check_version_quota(
    session: Session, kind: TemplateKind, template: Template, max_versions: int
) -> None:
    count = (
        session.scalar(select(func.count()).where(TemplateVersion.template_id == template.id)) or 0
    )
    if count >= max_versions:
        raise QuotaExceeded(
            f"The {kind.label} '{template.name}' already has {count} versions, "
            f"the quota is {max_versions}."
        )


def _next_number(
    session: Session, kind: TemplateKind, template: Template, major: int | None
) -> tuple[int, int]:
    if major is None:
        highest = session.scalar(
            select(func.max(TemplateVersion.major)).where(
                TemplateVersion.template_id == template.id
            )
        )
        return (0 if highest is None else highest) + 1, 0
    highest_minor = session.scalar(
        select(func.max(TemplateVersion.minor)).where(
            TemplateVersion.template_id == template.id, TemplateVersion.major == major
        )
    )
    if highest_minor is None:
        raise NotFound(
            f"The {kind.label} '{template.name}' has no major version {major}; "
            "omit majorVersion to create a new major version."
        )
    return major, highest_minor + 1


def check_compatible_environments(
    session: Session, entries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each entry must name an environment template major version that exists."""
    problems: list[str] = []
    result: list[dict[str, Any]] = []
    for index, entry in enumerate(entries, start=1):
        name, major = entry["templateName"], int(entry["majorVersion"])
        usable = session.scalar(
            select(func.count())
            .select_from(TemplateVersion)
            .join(Template, Template.id == TemplateVersion.template_id)
            .where(
                Template.kind == TemplateKind.ENVIRONMENT.value,
                Template.name == name,
                TemplateVersion.major == major,
                TemplateVersion.status != TemplateVersionStatus.REGISTRATION_FAILED,
            )
        )
        if not usable:
            problems.append(
                f"compatibleEnvironmentTemplates.{index}.member: environment template "
                f"'{name}' has no major version {major}"
            )
            continue
        item = {"templateName": name, "majorVersion": str(major)}
        if item not in result:
            result.append(item)
    if problems:
        raise InvalidInput("; ".join(problems))
    return result


def update_version(
    session: Session,
    kind: TemplateKind,
    name: str,
    major: int,
    minor: int,
    *,
    description: str | None,
    status: str | None,
    compatible_environment_templates: list[dict[str, Any]] | None,
    supported_component_sources: list[str] | None,
    now: datetime,
) -> tuple[Template, TemplateVersion]:
    template, version = find_version(session, kind, name, major, minor, lock=True)
    if status is not None and status != version.status:
        _check_transition(kind, name, version, status)
        version.status = status
    if description is not None:
        version.description = description
    if compatible_environment_templates is not None:
        version.compatible_environment_templates = check_compatible_environments(
            session, compatible_environment_templates
        )
    if supported_component_sources is not None:
        version.supported_component_sources = supported_component_sources
    version.last_modified_at = now
    return template, version


def _check_transition(kind: TemplateKind, name: str, version: TemplateVersion, to: str) -> None:
    number = f"{version.major}.{version.minor}"
    if version.status == TemplateVersionStatus.REGISTRATION_IN_PROGRESS:
        raise Conflict(f"The {kind.label} version '{name}' {number} is still being registered.")
    if not (
        version.status == TemplateVersionStatus.DRAFT and to == TemplateVersionStatus.PUBLISHED
    ):
        raise InvalidInput(
            f"The {kind.label} version '{name}' {number} cannot go from {version.status} "
            f"to {to}: the only allowed change is DRAFT to PUBLISHED."
        )


def delete_version(
    session: Session, arns: Arns, kind: TemplateKind, name: str, major: int, minor: int
) -> tuple[Template, TemplateVersion]:
    """Proton's rules: a version that resources run (or are being deployed to) stays; the
    recommended version goes last, in its major and in the template."""
    template, version = find_version(session, kind, name, major, minor, lock=True)
    number = f"{major}.{minor}"
    users = version_users(session, template, version)
    if users:
        shown = ", ".join(users[:_USERS_SHOWN])
        more = f" and {len(users) - _USERS_SHOWN} more" if len(users) > _USERS_SHOWN else ""
        raise InvalidInput(
            f"Version {number} of {kind.label} '{name}' is in use by {shown}{more}; move them "
            "to another version (or delete them) before deleting it."
        )
    if version.status == TemplateVersionStatus.PUBLISHED:
        siblings = _count(session, template.id, major=major) - 1
        others = _count(session, template.id) - 1
        minors = recommended_minors(session, template.id)
        is_major_recommended = minors.get(major) == minor
        is_recommended = bool(minors) and (major, minor) == max(minors.items())
        if is_recommended and others:
            raise InvalidInput(
                f"{number} is the recommended version of {kind.label} '{name}'; it can only "
                f"be deleted when it is the last version ({others} other(s) remain)."
            )
        if is_major_recommended and siblings:
            raise InvalidInput(
                f"{number} is the recommended minor version of major version {major} of "
                f"{kind.label} '{name}'; delete the other {siblings} minor version(s) first."
            )
    session.execute(delete(Tag).where(Tag.resource_arn == version_arn(arns, template, version)))
    session.delete(version)
    return template, version


_USERS_SHOWN = 5


def version_users(session: Session, template: Template, version: TemplateVersion) -> list[str]:
    """What runs ``version`` or is being deployed to it: environments, service instances and
    service pipelines, named as a message would name them."""
    users: list[str] = []
    if template.kind == TemplateKind.ENVIRONMENT.value:
        users += [
            f"environment '{n}'"
            for n in session.scalars(
                select(Environment.name)
                .where(
                    Environment.template_id == template.id,
                    Environment.template_major == version.major,
                    Environment.template_minor == version.minor,
                )
                .order_by(Environment.name)
            )
        ]
    else:
        users += [
            f"service instance '{s}/{n}'"
            for s, n in session.execute(
                select(ServiceInstance.service_name, ServiceInstance.name)
                .where(
                    ServiceInstance.template_id == template.id,
                    ServiceInstance.template_major == version.major,
                    ServiceInstance.template_minor == version.minor,
                )
                .order_by(ServiceInstance.service_name, ServiceInstance.name)
            )
        ]
        users += [
            f"the pipeline of service '{n}'"
            for n in session.scalars(
                select(Service.name)
                .join(ServicePipeline, ServicePipeline.service_id == Service.id)
                .where(
                    Service.template_id == template.id,
                    ServicePipeline.template_major == version.major,
                    ServicePipeline.template_minor == version.minor,
                )
                .order_by(Service.name)
            )
        ]
    # A deployment in flight to this version would lose its bundle half-way.
    in_flight = session.execute(
        select(Deployment.target_arn, Deployment.plan).where(
            Deployment.status.in_(ACTIVE), Deployment.operation == DeploymentOperation.DEPLOY
        )
    )
    users += [
        f"deployment to '{arn}'"
        for arn, plan in in_flight
        if (plan or {}).get("template_version_id") == version.id
    ]
    return list(dict.fromkeys(users))


def _count(session: Session, template_id: int, major: int | None = None) -> int:
    stmt = select(func.count()).where(TemplateVersion.template_id == template_id)
    if major is not None:
        stmt = stmt.where(TemplateVersion.major == major)
    return session.scalar(stmt) or 0
