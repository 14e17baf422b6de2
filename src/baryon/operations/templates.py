"""Environment template and service template operations (10)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import select

from baryon.domain import templates
from baryon.domain.arns import Arns
from baryon.domain.tags import set_tags
from baryon.domain.templates import TemplateFields, TemplateKind
from baryon.operations import views
from baryon.operations.context import RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.store.tables import Template

View = TypeVar("View")
Summary = TypeVar("Summary")


@dataclass(frozen=True)
class _Kind(Generic[View, Summary]):
    """What one kind of template's operations differ in: both kinds share one implementation
    per operation, typed by the kind's own result shapes."""

    kind: TemplateKind
    provisioning_member: str  # the request member naming how the template provisions
    view: Callable[[Arns, Template, str | None], View]
    summary: Callable[[Arns, Template, str | None], Summary]


_ENVIRONMENT = _Kind(
    TemplateKind.ENVIRONMENT,
    "provisioning",
    views.environment_template,
    views.environment_template_summary,
)
_SERVICE = _Kind(
    TemplateKind.SERVICE,
    "pipelineProvisioning",
    views.service_template,
    views.service_template_summary,
)


def _create(ctx: RequestContext, request: Mapping[str, Any], kind: _Kind[View, Any]) -> View:
    fields = TemplateFields(
        display_name=request.get("displayName"),
        description=request.get("description"),
        encryption_key=request.get("encryptionKey"),
        provisioning=request.get(kind.provisioning_member),
    )
    with ctx.db.session(write=True) as session:
        row, created = templates.create_template(
            session,
            kind.kind,
            request["name"],
            fields,
            now=ctx.now,
            max_templates=ctx.settings.max_templates,
        )
        if created and request.get("tags"):
            set_tags(session, templates.template_arn(ctx.arns, row), request["tags"])
        recommended = templates.recommended_versions(session, [row.id]).get(row.id)
        return kind.view(ctx.arns, row, recommended)


def _get(ctx: RequestContext, request: Mapping[str, Any], kind: _Kind[View, Any]) -> View:
    with ctx.db.session() as session:
        row = templates.find_template(session, kind.kind, request["name"])
        recommended = templates.recommended_versions(session, [row.id]).get(row.id)
        return kind.view(ctx.arns, row, recommended)


def _update(ctx: RequestContext, request: Mapping[str, Any], kind: _Kind[View, Any]) -> View:
    with ctx.db.session(write=True) as session:
        row = templates.update_template(
            session,
            kind.kind,
            request["name"],
            display_name=request.get("displayName"),
            description=request.get("description"),
            now=ctx.now,
        )
        recommended = templates.recommended_versions(session, [row.id]).get(row.id)
        return kind.view(ctx.arns, row, recommended)


def _delete(ctx: RequestContext, request: Mapping[str, Any], kind: _Kind[View, Any]) -> View:
    with ctx.db.session(write=True) as session:
        row = templates.delete_template(session, ctx.arns, kind.kind, request["name"])
        return kind.view(ctx.arns, row, None)


def _list(
    ctx: RequestContext, request: Mapping[str, Any], kind: _Kind[Any, Summary]
) -> tuple[list[Summary], str | None]:
    """One page of the kind's templates, and the token of the next page."""
    with ctx.db.session() as session:
        stmt = select(Template).where(Template.kind == kind.kind.value)
        rows, next_token = ctx.page(session, stmt, [Template.name], request)
        found = [row[0] for row in rows]
        recommended = templates.recommended_versions(session, [t.id for t in found])
        return [kind.summary(ctx.arns, t, recommended.get(t.id)) for t in found], next_token


@proton_operation("CreateEnvironmentTemplate")
def create_environment_template(
    ctx: RequestContext, request: proton.CreateEnvironmentTemplateInput
) -> proton.CreateEnvironmentTemplateOutput:
    return {"environmentTemplate": _create(ctx, request, _ENVIRONMENT)}


@proton_operation("GetEnvironmentTemplate")
def get_environment_template(
    ctx: RequestContext, request: proton.GetEnvironmentTemplateInput
) -> proton.GetEnvironmentTemplateOutput:
    return {"environmentTemplate": _get(ctx, request, _ENVIRONMENT)}


@proton_operation("UpdateEnvironmentTemplate")
def update_environment_template(
    ctx: RequestContext, request: proton.UpdateEnvironmentTemplateInput
) -> proton.UpdateEnvironmentTemplateOutput:
    return {"environmentTemplate": _update(ctx, request, _ENVIRONMENT)}


@proton_operation("DeleteEnvironmentTemplate")
def delete_environment_template(
    ctx: RequestContext, request: proton.DeleteEnvironmentTemplateInput
) -> proton.DeleteEnvironmentTemplateOutput:
    return {"environmentTemplate": _delete(ctx, request, _ENVIRONMENT)}


@proton_operation("ListEnvironmentTemplates")
def list_environment_templates(
    ctx: RequestContext, request: proton.ListEnvironmentTemplatesInput
) -> proton.ListEnvironmentTemplatesOutput:
    found, next_token = _list(ctx, request, _ENVIRONMENT)
    return {"templates": found, "nextToken": next_token}


@proton_operation("CreateServiceTemplate")
def create_service_template(
    ctx: RequestContext, request: proton.CreateServiceTemplateInput
) -> proton.CreateServiceTemplateOutput:
    return {"serviceTemplate": _create(ctx, request, _SERVICE)}


@proton_operation("GetServiceTemplate")
def get_service_template(
    ctx: RequestContext, request: proton.GetServiceTemplateInput
) -> proton.GetServiceTemplateOutput:
    return {"serviceTemplate": _get(ctx, request, _SERVICE)}


@proton_operation("UpdateServiceTemplate")
def update_service_template(
    ctx: RequestContext, request: proton.UpdateServiceTemplateInput
) -> proton.UpdateServiceTemplateOutput:
    return {"serviceTemplate": _update(ctx, request, _SERVICE)}


@proton_operation("DeleteServiceTemplate")
def delete_service_template(
    ctx: RequestContext, request: proton.DeleteServiceTemplateInput
) -> proton.DeleteServiceTemplateOutput:
    return {"serviceTemplate": _delete(ctx, request, _SERVICE)}


@proton_operation("ListServiceTemplates")
def list_service_templates(
    ctx: RequestContext, request: proton.ListServiceTemplatesInput
) -> proton.ListServiceTemplatesOutput:
    found, next_token = _list(ctx, request, _SERVICE)
    return {"templates": found, "nextToken": next_token}
