"""Environment template and service template operations (10)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from baryon.api.registry import proton_operation
from baryon.domain import templates
from baryon.domain.tags import set_tags
from baryon.domain.templates import TemplateFields, TemplateKind
from baryon.operations import views
from baryon.operations.context import RequestContext
from baryon.store.tables import Template

ENV, SVC = TemplateKind.ENVIRONMENT, TemplateKind.SERVICE
_OUTPUT_MEMBER = {ENV: "environmentTemplate", SVC: "serviceTemplate"}
_PROVISIONING_MEMBER = {ENV: "provisioning", SVC: "pipelineProvisioning"}


def _create(ctx: RequestContext, kind: TemplateKind, request: dict[str, Any]) -> dict[str, Any]:
    fields = TemplateFields(
        display_name=request.get("displayName"),
        description=request.get("description"),
        encryption_key=request.get("encryptionKey"),
        provisioning=request.get(_PROVISIONING_MEMBER[kind]),
    )
    with ctx.db.session(write=True) as session:
        row, created = templates.create_template(
            session,
            kind,
            request["name"],
            fields,
            now=ctx.now,
            max_templates=ctx.settings.max_templates,
        )
        if created and request.get("tags"):
            set_tags(session, templates.template_arn(ctx.arns, row), request["tags"])
        recommended = templates.recommended_versions(session, [row.id]).get(row.id)
        return {_OUTPUT_MEMBER[kind]: views.template(ctx.arns, row, recommended)}


def _get(ctx: RequestContext, kind: TemplateKind, request: dict[str, Any]) -> dict[str, Any]:
    with ctx.db.session() as session:
        row = templates.find_template(session, kind, request["name"])
        recommended = templates.recommended_versions(session, [row.id]).get(row.id)
        return {_OUTPUT_MEMBER[kind]: views.template(ctx.arns, row, recommended)}


def _update(ctx: RequestContext, kind: TemplateKind, request: dict[str, Any]) -> dict[str, Any]:
    with ctx.db.session(write=True) as session:
        row = templates.update_template(
            session,
            kind,
            request["name"],
            display_name=request.get("displayName"),
            description=request.get("description"),
            now=ctx.now,
        )
        recommended = templates.recommended_versions(session, [row.id]).get(row.id)
        return {_OUTPUT_MEMBER[kind]: views.template(ctx.arns, row, recommended)}


def _delete(ctx: RequestContext, kind: TemplateKind, request: dict[str, Any]) -> dict[str, Any]:
    with ctx.db.session(write=True) as session:
        row = templates.delete_template(session, ctx.arns, kind, request["name"])
        return {_OUTPUT_MEMBER[kind]: views.template(ctx.arns, row, None)}


def _list(ctx: RequestContext, kind: TemplateKind, request: dict[str, Any]) -> dict[str, Any]:
    with ctx.db.session() as session:
        stmt = select(Template).where(Template.kind == kind.value)
        rows, next_token = ctx.page(session, stmt, [Template.name], request)
        found = [row[0] for row in rows]
        recommended = templates.recommended_versions(session, [t.id for t in found])
        return {
            "templates": [
                views.template_summary(ctx.arns, t, recommended.get(t.id)) for t in found
            ],
            "nextToken": next_token,
        }


@proton_operation("CreateEnvironmentTemplate")
def create_environment_template(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return _create(ctx, ENV, request)


@proton_operation("GetEnvironmentTemplate")
def get_environment_template(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return _get(ctx, ENV, request)


@proton_operation("UpdateEnvironmentTemplate")
def update_environment_template(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return _update(ctx, ENV, request)


@proton_operation("DeleteEnvironmentTemplate")
def delete_environment_template(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return _delete(ctx, ENV, request)


@proton_operation("ListEnvironmentTemplates")
def list_environment_templates(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, ENV, request)


@proton_operation("CreateServiceTemplate")
def create_service_template(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return _create(ctx, SVC, request)


@proton_operation("GetServiceTemplate")
def get_service_template(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return _get(ctx, SVC, request)


@proton_operation("UpdateServiceTemplate")
def update_service_template(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return _update(ctx, SVC, request)


@proton_operation("DeleteServiceTemplate")
def delete_service_template(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return _delete(ctx, SVC, request)


@proton_operation("ListServiceTemplates")
def list_service_templates(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, SVC, request)
