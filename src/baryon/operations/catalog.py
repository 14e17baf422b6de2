"""Read models of the template catalog: the templates with their version counts, one
template's versions, one version with its schema, and the version a create form is for.

Rows are returned detached from their session; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from baryon.domain import services, versions
from baryon.domain.errors import NotFound
from baryon.domain.template_versions import find_version
from baryon.domain.templates import (
    TemplateKind,
    find_template,
    recommended_minors,
    recommended_versions,
)
from baryon.operations.context import RequestContext
from baryon.service_models.proton import TemplateVersionStatus
from baryon.store.tables import Environment, Template, TemplateVersion


@dataclass(frozen=True)
class TemplateRow:
    template: Template
    recommended: str | None
    versions: int
    published: int


def catalog(ctx: RequestContext) -> list[TemplateRow]:
    with ctx.db.session() as session:
        return _catalog(session)


def _catalog(session: Session) -> list[TemplateRow]:
    templates = list(session.scalars(select(Template).order_by(Template.kind, Template.name)))
    recommended = recommended_versions(session, [t.id for t in templates])
    counts = {
        template_id: (total, published or 0)
        for template_id, total, published in session.execute(
            select(
                TemplateVersion.template_id,
                func.count(),
                func.sum(
                    case((TemplateVersion.status == TemplateVersionStatus.PUBLISHED, 1), else_=0)
                ),
            ).group_by(TemplateVersion.template_id)
        )
    }
    return [TemplateRow(t, recommended.get(t.id), *counts.get(t.id, (0, 0))) for t in templates]


@dataclass(frozen=True)
class VersionRow:
    version: TemplateVersion
    recommended_in_major: bool  # the recommended minor of its major version
    recommended: bool  # the template's recommended version


@dataclass(frozen=True)
class TemplateVersions:
    template: Template
    rows: list[VersionRow]


def template_versions(ctx: RequestContext, kind: TemplateKind, name: str) -> TemplateVersions:
    with ctx.db.session() as session:
        template = find_template(session, kind, name)
        return TemplateVersions(template, _versions_of(session, template))


def _versions_of(session: Session, template: Template) -> list[VersionRow]:
    minors = recommended_minors(session, template.id)
    top = max(minors.items()) if minors else None
    rows = session.scalars(
        select(TemplateVersion)
        .where(TemplateVersion.template_id == template.id)
        .order_by(TemplateVersion.major.desc(), TemplateVersion.minor.desc())
    )
    return [
        VersionRow(
            row,
            minors.get(row.major) == row.minor,
            top == (row.major, row.minor),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class VersionDetail:
    template: Template
    version: TemplateVersion
    row: VersionRow | None
    schema: versions.VersionSchema | None  # None while the version has no schema

    @property
    def published(self) -> bool:
        return self.version.status == TemplateVersionStatus.PUBLISHED


def version_detail(
    ctx: RequestContext, kind: TemplateKind, name: str, major: int, minor: int
) -> VersionDetail:
    with ctx.db.session() as session:
        template, version = find_version(session, kind, name, major, minor)
        rows = {row.version.id: row for row in _versions_of(session, template)}
    schema = versions.version_schema(version) if version.schema_text else None
    return VersionDetail(template, version, rows.get(version.id), schema)


@dataclass(frozen=True)
class CreateChoice:
    """The published version a create form is for, and what the form offers beside it."""

    template: Template
    version: TemplateVersion
    published: list[TemplateVersion]  # newest first
    schema: versions.VersionSchema
    # For a service template: the environments its instances can go in (deployed ones first).
    environments: list[Environment]
    with_pipeline: bool  # a service template whose schema has pipeline inputs

    @property
    def recommended(self) -> TemplateVersion:
        return self.published[0]


def create_choice(
    ctx: RequestContext, kind: TemplateKind, template_name: str, number: tuple[int, int] | None
) -> CreateChoice:
    """``number`` (major, minor) of ``template_name``, or its recommended version; published."""
    with ctx.db.session() as session:
        template = find_template(session, kind, template_name)
        published = _published_versions(session, template)
        if not published:
            raise NotFound(f"The {kind.label} '{template_name}' has no published version yet.")
        if number is not None:
            version = versions.published_version(session, template, *number)
        else:
            version = versions.published_version(session, template, published[0].major, None)
        environments = (
            _compatible_environments(session, version) if kind == TemplateKind.SERVICE else []
        )
    schema = versions.version_schema(version)
    with_pipeline = kind == TemplateKind.SERVICE and services.has_pipeline(template, schema)
    return CreateChoice(template, version, published, schema, environments, with_pipeline)


def _published_versions(session: Session, template: Template) -> list[TemplateVersion]:
    return list(
        session.scalars(
            select(TemplateVersion)
            .where(
                TemplateVersion.template_id == template.id,
                TemplateVersion.status == TemplateVersionStatus.PUBLISHED,
            )
            .order_by(TemplateVersion.major.desc(), TemplateVersion.minor.desc())
        )
    )


def _compatible_environments(session: Session, version: TemplateVersion) -> list[Environment]:
    """Environments a service template version can put instances in."""
    wanted = {
        (item["templateName"], int(item["majorVersion"]))
        for item in version.compatible_environment_templates or []
    }
    rows = session.scalars(select(Environment).order_by(Environment.name))
    return [row for row in rows if (row.template_name, row.template_major) in wanted]
