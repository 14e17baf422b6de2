"""Environment and service templates: one set of rules, two name spaces.

Proton keeps the two kinds apart (different ARNs, operations and a few fields), but their
lifecycles are the same, so they share one table and these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy import and_, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baryon.bundles.loader import BundleKind
from baryon.domain.arns import Arns
from baryon.domain.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from baryon.service_models.proton import TemplateVersionStatus
from baryon.store.tables import Environment, Service, Tag, Template, TemplateVersion


class TemplateKind(Enum):
    ENVIRONMENT = "ENVIRONMENT"
    SERVICE = "SERVICE"

    @property
    def arn_type(self) -> str:
        return "environment-template" if self is TemplateKind.ENVIRONMENT else "service-template"

    @property
    def api_word(self) -> str:
        """How operation names spell the kind: CreateEnvironmentTemplate, ..."""
        return "Environment" if self is TemplateKind.ENVIRONMENT else "Service"

    @property
    def label(self) -> str:
        return "environment template" if self is TemplateKind.ENVIRONMENT else "service template"

    @property
    def bundle_kind(self) -> BundleKind:
        return "environment" if self is TemplateKind.ENVIRONMENT else "service"


@dataclass(frozen=True)
class TemplateFields:
    display_name: str | None
    description: str | None
    encryption_key: str | None
    provisioning: str | None


def find_template(
    session: Session, kind: TemplateKind, name: str, *, lock: bool = False
) -> Template:
    stmt = select(Template).where(Template.kind == kind.value, Template.name == name)
    if lock:
        stmt = stmt.with_for_update()
    template = session.scalars(stmt).first()
    if template is None:
        raise NotFound(f"The {kind.label} '{name}' was not found.")
    return template


def template_arn(arns: Arns, template: Template) -> str:
    return arns.template(TemplateKind(template.kind).arn_type, template.name)


def create_template(
    session: Session,
    kind: TemplateKind,
    name: str,
    fields: TemplateFields,
    *,
    now: datetime,
    max_templates: int,
) -> tuple[Template, bool]:
    """Returns (template, created). An identical retry returns the existing template."""
    existing = session.scalars(
        select(Template).where(Template.kind == kind.value, Template.name == name)
    ).first()
    if existing is not None:
        if _same_fields(existing, fields) and existing.last_modified_at == existing.created_at:
            return existing, False
        raise Conflict(f"The {kind.label} '{name}' already exists.", field=("name",))
    count = session.scalar(select(func.count()).where(Template.kind == kind.value)) or 0
    if count >= max_templates:
        raise QuotaExceeded(
            f"This account already has {count} {kind.label}s, the quota is {max_templates}."
        )
    template = Template(
        kind=kind.value,
        name=name,
        display_name=fields.display_name,
        description=fields.description,
        encryption_key=fields.encryption_key,
        provisioning=fields.provisioning,
        created_at=now,
        last_modified_at=now,
    )
    session.add(template)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create of the same name won the race
        raise Conflict(f"The {kind.label} '{name}' already exists.", field=("name",)) from exc
    return template, True


def _same_fields(template: Template, fields: TemplateFields) -> bool:
    return (
        template.display_name == fields.display_name
        and template.description == fields.description
        and template.encryption_key == fields.encryption_key
        and template.provisioning == fields.provisioning
    )


def update_template(
    session: Session,
    kind: TemplateKind,
    name: str,
    *,
    display_name: str | None,
    description: str | None,
    now: datetime,
) -> Template:
    template = find_template(session, kind, name, lock=True)
    if display_name is not None:
        template.display_name = display_name
    if description is not None:
        template.description = description
    template.last_modified_at = now
    return template


def delete_template(session: Session, arns: Arns, kind: TemplateKind, name: str) -> Template:
    """Proton deletes a template only once none of its versions remain; resources made from it
    (which would be orphaned) keep it too."""
    template = find_template(session, kind, name, lock=True)
    remaining = session.scalar(
        select(func.count()).where(TemplateVersion.template_id == template.id)
    )
    if remaining:
        raise InvalidInput(
            f"The {kind.label} '{name}' still has {remaining} version(s); delete them first."
        )
    users = _template_users(session, template)
    if users:
        raise InvalidInput(
            f"The {kind.label} '{name}' is still used by {', '.join(users)}; delete them first."
        )
    arn = template_arn(arns, template)
    session.execute(delete(Tag).where(Tag.resource_arn == arn))
    session.delete(template)
    return template


def _template_users(session: Session, template: Template, shown: int = 5) -> list[str]:
    if template.kind == TemplateKind.ENVIRONMENT.value:
        column, word = Environment.name, "environment"
        where = Environment.template_id == template.id
    else:
        column, word = Service.name, "service"
        where = Service.template_id == template.id
    names = list(session.scalars(select(column).where(where).order_by(column).limit(shown + 1)))
    users = [f"{word} '{n}'" for n in names[:shown]]
    if len(names) > shown:
        users.append("more")
    return users


def recommended_versions(session: Session, template_ids: list[int]) -> dict[int, str]:
    """The recommended version of each template: its highest PUBLISHED major.minor."""
    if not template_ids:
        return {}
    top_major = (
        select(TemplateVersion.template_id, func.max(TemplateVersion.major).label("major"))
        .where(
            TemplateVersion.template_id.in_(template_ids),
            TemplateVersion.status == TemplateVersionStatus.PUBLISHED,
        )
        .group_by(TemplateVersion.template_id)
        .subquery()
    )
    rows = session.execute(
        select(TemplateVersion.template_id, top_major.c.major, func.max(TemplateVersion.minor))
        .join(
            top_major,
            and_(
                TemplateVersion.template_id == top_major.c.template_id,
                TemplateVersion.major == top_major.c.major,
            ),
        )
        .where(TemplateVersion.status == TemplateVersionStatus.PUBLISHED)
        .group_by(TemplateVersion.template_id, top_major.c.major)
    )
    return {template_id: f"{major}.{minor}" for template_id, major, minor in rows}


def recommended_minors(session: Session, template_id: int) -> dict[int, int]:
    """For each major version of a template, its highest PUBLISHED minor version."""
    rows = session.execute(
        select(TemplateVersion.major, func.max(TemplateVersion.minor))
        .where(
            TemplateVersion.template_id == template_id,
            TemplateVersion.status == TemplateVersionStatus.PUBLISHED,
        )
        .group_by(TemplateVersion.major)
    )
    return {major: minor for major, minor in rows}
