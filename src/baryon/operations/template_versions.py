"""Environment and service template version operations (10)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain import idempotency, template_versions
from baryon.domain.arns import Arns
from baryon.domain.tags import inherit_tags, set_tags
from baryon.domain.template_versions import NewVersion, version_arn
from baryon.domain.templates import (
    TemplateKind,
    find_template,
    recommended_minors,
    template_arn,
)
from baryon.operations import views
from baryon.operations.context import RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.store.tables import Template, TemplateVersion

View = TypeVar("View")
Summary = TypeVar("Summary")


@dataclass(frozen=True)
class _Kind(Generic[View, Summary]):
    """What one kind of template version's operations differ in: both kinds share one
    implementation per operation, typed by the kind's own result shapes."""

    kind: TemplateKind
    view: Callable[[Arns, Template, TemplateVersion, int | None], View]
    summary: Callable[[Arns, Template, TemplateVersion, int | None], Summary]


_ENVIRONMENT = _Kind(
    TemplateKind.ENVIRONMENT,
    views.environment_template_version,
    views.environment_template_version_summary,
)
_SERVICE = _Kind(
    TemplateKind.SERVICE,
    views.service_template_version,
    views.service_template_version_summary,
)


def _view(
    session: Session,
    ctx: RequestContext,
    kind: _Kind[View, Any],
    template: Template,
    row: TemplateVersion,
) -> View:
    minors = recommended_minors(session, template.id)
    return kind.view(ctx.arns, template, row, minors.get(row.major))


def _create(ctx: RequestContext, request: Mapping[str, Any], kind: _Kind[View, Any]) -> View:
    major = request.get("majorVersion")
    new = NewVersion(
        major=None if major is None else int(major),
        description=request.get("description"),
        source=request["source"],
        compatible_environment_templates=request.get("compatibleEnvironmentTemplates"),
        supported_component_sources=request.get("supportedComponentSources"),
    )
    with ctx.db.session(write=True) as session:
        previous = idempotency.recall(session, ctx.operation, request, ctx.now)
        if previous is not None:
            template, row = template_versions.version_by_id(session, kind.kind, int(previous))
            return _view(session, ctx, kind, template, row)
        template, row = template_versions.create_version(
            session,
            kind.kind,
            request["templateName"],
            new,
            now=ctx.now,
            max_versions=ctx.settings.max_versions_per_template,
        )
        arn = version_arn(ctx.arns, template, row)
        inherit_tags(session, template_arn(ctx.arns, template), arn)
        if request.get("tags"):
            set_tags(session, arn, request["tags"])
        idempotency.remember(session, ctx.operation, request, str(row.id), ctx.now)
        result = _view(session, ctx, kind, template, row)
    ctx.jobs_enqueued()
    return result


def _get(ctx: RequestContext, request: Mapping[str, Any], kind: _Kind[View, Any]) -> View:
    with ctx.db.session() as session:
        template, row = template_versions.find_version(
            session,
            kind.kind,
            request["templateName"],
            int(request["majorVersion"]),
            int(request["minorVersion"]),
        )
        return _view(session, ctx, kind, template, row)


def _update(ctx: RequestContext, request: Mapping[str, Any], kind: _Kind[View, Any]) -> View:
    with ctx.db.session(write=True) as session:
        template, row = template_versions.update_version(
            session,
            kind.kind,
            request["templateName"],
            int(request["majorVersion"]),
            int(request["minorVersion"]),
            description=request.get("description"),
            status=request.get("status"),
            compatible_environment_templates=request.get("compatibleEnvironmentTemplates"),
            supported_component_sources=request.get("supportedComponentSources"),
            now=ctx.now,
        )
        session.flush()
        return _view(session, ctx, kind, template, row)


def _delete(ctx: RequestContext, request: Mapping[str, Any], kind: _Kind[View, Any]) -> View:
    with ctx.db.session(write=True) as session:
        template, row = template_versions.delete_version(
            session,
            ctx.arns,
            kind.kind,
            request["templateName"],
            int(request["majorVersion"]),
            int(request["minorVersion"]),
        )
        return kind.view(ctx.arns, template, row, None)


def _list(
    ctx: RequestContext, request: Mapping[str, Any], kind: _Kind[Any, Summary]
) -> tuple[list[Summary], str | None]:
    """One page of the template's versions (of one major version if asked), and the token of
    the next page."""
    major = request.get("majorVersion")
    with ctx.db.session() as session:
        template = find_template(session, kind.kind, request["templateName"])
        stmt = select(TemplateVersion).where(TemplateVersion.template_id == template.id)
        if major is not None:
            stmt = stmt.where(TemplateVersion.major == int(major))
        rows, next_token = ctx.page(
            session,
            stmt,
            [TemplateVersion.major, TemplateVersion.minor],
            request,
            scope={"templateName": template.name, "majorVersion": major},
        )
        minors = recommended_minors(session, template.id)
        found = [kind.summary(ctx.arns, template, row[0], minors.get(row[0].major)) for row in rows]
        return found, next_token


@proton_operation("CreateEnvironmentTemplateVersion")
def create_environment_template_version(
    ctx: RequestContext, request: proton.CreateEnvironmentTemplateVersionInput
) -> proton.CreateEnvironmentTemplateVersionOutput:
    return {"environmentTemplateVersion": _create(ctx, request, _ENVIRONMENT)}


@proton_operation("GetEnvironmentTemplateVersion")
def get_environment_template_version(
    ctx: RequestContext, request: proton.GetEnvironmentTemplateVersionInput
) -> proton.GetEnvironmentTemplateVersionOutput:
    return {"environmentTemplateVersion": _get(ctx, request, _ENVIRONMENT)}


@proton_operation("UpdateEnvironmentTemplateVersion")
def update_environment_template_version(
    ctx: RequestContext, request: proton.UpdateEnvironmentTemplateVersionInput
) -> proton.UpdateEnvironmentTemplateVersionOutput:
    return {"environmentTemplateVersion": _update(ctx, request, _ENVIRONMENT)}


@proton_operation("DeleteEnvironmentTemplateVersion")
def delete_environment_template_version(
    ctx: RequestContext, request: proton.DeleteEnvironmentTemplateVersionInput
) -> proton.DeleteEnvironmentTemplateVersionOutput:
    return {"environmentTemplateVersion": _delete(ctx, request, _ENVIRONMENT)}


@proton_operation("ListEnvironmentTemplateVersions")
def list_environment_template_versions(
    ctx: RequestContext, request: proton.ListEnvironmentTemplateVersionsInput
) -> proton.ListEnvironmentTemplateVersionsOutput:
    found, next_token = _list(ctx, request, _ENVIRONMENT)
    return {"templateVersions": found, "nextToken": next_token}


@proton_operation("CreateServiceTemplateVersion")
def create_service_template_version(
    ctx: RequestContext, request: proton.CreateServiceTemplateVersionInput
) -> proton.CreateServiceTemplateVersionOutput:
    return {"serviceTemplateVersion": _create(ctx, request, _SERVICE)}


@proton_operation("GetServiceTemplateVersion")
def get_service_template_version(
    ctx: RequestContext, request: proton.GetServiceTemplateVersionInput
) -> proton.GetServiceTemplateVersionOutput:
    return {"serviceTemplateVersion": _get(ctx, request, _SERVICE)}


@proton_operation("UpdateServiceTemplateVersion")
def update_service_template_version(
    ctx: RequestContext, request: proton.UpdateServiceTemplateVersionInput
) -> proton.UpdateServiceTemplateVersionOutput:
    return {"serviceTemplateVersion": _update(ctx, request, _SERVICE)}


@proton_operation("DeleteServiceTemplateVersion")
def delete_service_template_version(
    ctx: RequestContext, request: proton.DeleteServiceTemplateVersionInput
) -> proton.DeleteServiceTemplateVersionOutput:
    return {"serviceTemplateVersion": _delete(ctx, request, _SERVICE)}


@proton_operation("ListServiceTemplateVersions")
def list_service_template_versions(
    ctx: RequestContext, request: proton.ListServiceTemplateVersionsInput
) -> proton.ListServiceTemplateVersionsOutput:
    found, next_token = _list(ctx, request, _SERVICE)
    return {"templateVersions": found, "nextToken": next_token}
