"""Environment template and service template operations (10)."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import select

from baryon.domain import templates
from baryon.domain.tags import set_tags
from baryon.domain.templates import TemplateFields, TemplateKind
from baryon.operations import views
from baryon.operations.context import RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.store.tables import Template

ENV, SVC = TemplateKind.ENVIRONMENT, TemplateKind.SERVICE
_OUTPUT_MEMBER = {ENV: "environmentTemplate", SVC: "serviceTemplate"}
_PROVISIONING_MEMBER = {ENV: "provisioning", SVC: "pipelineProvisioning"}


def _create(ctx: RequestContext, request: dict[str, Any], kind: TemplateKind) -> dict[str, Any]:
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


def _get(ctx: RequestContext, request: dict[str, Any], kind: TemplateKind) -> dict[str, Any]:
    with ctx.db.session() as session:
        row = templates.find_template(session, kind, request["name"])
        recommended = templates.recommended_versions(session, [row.id]).get(row.id)
        return {_OUTPUT_MEMBER[kind]: views.template(ctx.arns, row, recommended)}


def _update(ctx: RequestContext, request: dict[str, Any], kind: TemplateKind) -> dict[str, Any]:
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


def _delete(ctx: RequestContext, request: dict[str, Any], kind: TemplateKind) -> dict[str, Any]:
    with ctx.db.session(write=True) as session:
        row = templates.delete_template(session, ctx.arns, kind, request["name"])
        return {_OUTPUT_MEMBER[kind]: views.template(ctx.arns, row, None)}


def _list(ctx: RequestContext, request: dict[str, Any], kind: TemplateKind) -> dict[str, Any]:
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


# Both kinds share one implementation per operation; only the names differ.
_HANDLERS = {
    "Create{}Template": _create,
    "Get{}Template": _get,
    "Update{}Template": _update,
    "Delete{}Template": _delete,
    "List{}Templates": _list,
}
for _kind in TemplateKind:
    for _pattern, _handler in _HANDLERS.items():
        proton_operation(_pattern.format(_kind.api_word))(partial(_handler, kind=_kind))
