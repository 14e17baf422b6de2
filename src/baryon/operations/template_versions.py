"""Environment and service template version operations (10)."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain import idempotency, template_versions
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
from baryon.store.tables import Template, TemplateVersion

ENV, SVC = TemplateKind.ENVIRONMENT, TemplateKind.SERVICE
_OUTPUT_MEMBER = {ENV: "environmentTemplateVersion", SVC: "serviceTemplateVersion"}


def _view(
    session: Session, ctx: RequestContext, template: Template, row: TemplateVersion
) -> views.VersionView:
    minors = recommended_minors(session, template.id)
    return views.version(ctx.arns, template, row, minors.get(row.major))


def _create(ctx: RequestContext, request: dict[str, Any], kind: TemplateKind) -> dict[str, Any]:
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
            template, row = template_versions.version_by_id(session, kind, int(previous))
            return {_OUTPUT_MEMBER[kind]: _view(session, ctx, template, row)}
        template, row = template_versions.create_version(
            session,
            kind,
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
        result = {_OUTPUT_MEMBER[kind]: _view(session, ctx, template, row)}
    ctx.jobs_enqueued()
    return result


def _get(ctx: RequestContext, request: dict[str, Any], kind: TemplateKind) -> dict[str, Any]:
    with ctx.db.session() as session:
        template, row = template_versions.find_version(
            session,
            kind,
            request["templateName"],
            int(request["majorVersion"]),
            int(request["minorVersion"]),
        )
        return {_OUTPUT_MEMBER[kind]: _view(session, ctx, template, row)}


def _update(ctx: RequestContext, request: dict[str, Any], kind: TemplateKind) -> dict[str, Any]:
    with ctx.db.session(write=True) as session:
        template, row = template_versions.update_version(
            session,
            kind,
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
        return {_OUTPUT_MEMBER[kind]: _view(session, ctx, template, row)}


def _delete(ctx: RequestContext, request: dict[str, Any], kind: TemplateKind) -> dict[str, Any]:
    with ctx.db.session(write=True) as session:
        template, row = template_versions.delete_version(
            session,
            ctx.arns,
            kind,
            request["templateName"],
            int(request["majorVersion"]),
            int(request["minorVersion"]),
        )
        return {_OUTPUT_MEMBER[kind]: views.version(ctx.arns, template, row, None)}


def _list(ctx: RequestContext, request: dict[str, Any], kind: TemplateKind) -> dict[str, Any]:
    major = request.get("majorVersion")
    with ctx.db.session() as session:
        template = find_template(session, kind, request["templateName"])
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
        return {
            "templateVersions": [
                views.version_summary(ctx.arns, template, row[0], minors.get(row[0].major))
                for row in rows
            ],
            "nextToken": next_token,
        }


# Both kinds share one implementation per operation; only the names differ.
_HANDLERS = {
    "Create{}TemplateVersion": _create,
    "Get{}TemplateVersion": _get,
    "Update{}TemplateVersion": _update,
    "Delete{}TemplateVersion": _delete,
    "List{}TemplateVersions": _list,
}
for _kind in TemplateKind:
    for _pattern, _handler in _HANDLERS.items():
        proton_operation(_pattern.format(_kind.api_word))(partial(_handler, kind=_kind))
