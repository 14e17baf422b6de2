"""Template sync: its configuration and status, and the repository-wide sync views (7).

The rules live in domain/template_sync.py and the sync itself in engine/template_sync.py (the
TEMPLATE_SYNC job); these operations record desired state and enqueue that job.
GetRepositorySyncStatus and ListRepositorySyncDefinitions answer for both sync types: the
SERVICE_SYNC side comes from operations/service_sync.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from baryon.domain import template_sync
from baryon.domain.errors import InvalidInput
from baryon.domain.templates import TemplateKind
from baryon.operations import service_sync
from baryon.operations.context import DEFAULT_PAGE_SIZE, RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.store.page_tokens import InvalidPageToken
from baryon.store.tables import TemplateSyncConfigRow


def _kind(request: Any) -> TemplateKind:
    return TemplateKind(request["templateType"])


def _save(
    ctx: RequestContext,
    request: proton.CreateTemplateSyncConfigInput | proton.UpdateTemplateSyncConfigInput,
    save: Callable[..., TemplateSyncConfigRow],
) -> proton.TemplateSyncConfig:
    """Create and Update take the same members; each enqueues a sync of the branch's head."""
    with ctx.db.session(write=True) as session:
        row = save(
            session,
            _kind(request),
            request["templateName"],
            repository_provider=request["repositoryProvider"],
            repository_name=request["repositoryName"],
            branch=request["branch"],
            subdirectory=request.get("subdirectory"),
            now=ctx.now,
        )
        config = template_sync.wire_config(row)
    ctx.jobs_enqueued()
    return config


@proton_operation("CreateTemplateSyncConfig")
def create_template_sync_config(
    ctx: RequestContext, request: proton.CreateTemplateSyncConfigInput
) -> proton.CreateTemplateSyncConfigOutput:
    return {"templateSyncConfig": _save(ctx, request, template_sync.create_config)}


@proton_operation("GetTemplateSyncConfig")
def get_template_sync_config(
    ctx: RequestContext, request: proton.GetTemplateSyncConfigInput
) -> proton.GetTemplateSyncConfigOutput:
    with ctx.db.session() as session:
        row = template_sync.get_config(session, _kind(request), request["templateName"])
        return {"templateSyncConfig": template_sync.wire_config(row)}


@proton_operation("UpdateTemplateSyncConfig")
def update_template_sync_config(
    ctx: RequestContext, request: proton.UpdateTemplateSyncConfigInput
) -> proton.UpdateTemplateSyncConfigOutput:
    return {"templateSyncConfig": _save(ctx, request, template_sync.update_config)}


@proton_operation("DeleteTemplateSyncConfig")
def delete_template_sync_config(
    ctx: RequestContext, request: proton.DeleteTemplateSyncConfigInput
) -> proton.DeleteTemplateSyncConfigOutput:
    with ctx.db.session(write=True) as session:
        row = template_sync.delete_config(session, _kind(request), request["templateName"])
        return {"templateSyncConfig": template_sync.wire_config(row)}


@proton_operation("GetTemplateSyncStatus")
def get_template_sync_status(
    ctx: RequestContext, request: proton.GetTemplateSyncStatusInput
) -> proton.GetTemplateSyncStatusOutput:
    with ctx.db.session() as session:
        return template_sync.template_sync_status(
            session, _kind(request), request["templateName"], int(request["templateVersion"])
        )


@proton_operation("GetRepositorySyncStatus")
def get_repository_sync_status(
    ctx: RequestContext, request: proton.GetRepositorySyncStatusInput
) -> proton.GetRepositorySyncStatusOutput:
    with ctx.db.session() as session:
        if request["syncType"] == proton.SyncType.SERVICE_SYNC:
            return service_sync.repository_sync_status(session, request)
        attempt = template_sync.repository_status(
            session, request["repositoryProvider"], request["repositoryName"], request["branch"]
        )
        return {} if attempt is None else {"latestSync": attempt}


@proton_operation("ListRepositorySyncDefinitions")
def list_repository_sync_definitions(
    ctx: RequestContext, request: proton.ListRepositorySyncDefinitionsInput
) -> proton.ListRepositorySyncDefinitionsOutput:
    with ctx.db.session() as session:
        definitions = _definitions(session, request)
    # A repository holds a handful of synced templates and services: paged in memory, after
    # the last definition the previous page showed.
    scope = {
        "repositoryProvider": request["repositoryProvider"],
        "repositoryName": request["repositoryName"],
        "syncType": request["syncType"],
    }
    keys = [(_key(d), d) for d in sorted(definitions, key=_key)]
    token = request.get("nextToken")
    if token:
        try:
            after = ctx.runtime.page_tokens.decode(token, ctx.operation, scope)
        except InvalidPageToken as exc:
            raise InvalidInput(str(exc), field=("nextToken",)) from exc
        keys = [(key, d) for key, d in keys if list(key) > after]
    page = keys[:DEFAULT_PAGE_SIZE]
    result: proton.ListRepositorySyncDefinitionsOutput = {"syncDefinitions": [d for _, d in page]}
    if len(keys) > len(page):
        result["nextToken"] = ctx.runtime.page_tokens.encode(
            ctx.operation, scope, list(page[-1][0])
        )
    return result


def _definitions(
    session: Session, request: proton.ListRepositorySyncDefinitionsInput
) -> list[proton.RepositorySyncDefinition]:
    if request["syncType"] == proton.SyncType.SERVICE_SYNC:
        return service_sync.repository_sync_definitions(session, request)
    return template_sync.sync_definitions(
        session, request["repositoryProvider"], request["repositoryName"]
    )


def _key(definition: proton.RepositorySyncDefinition) -> tuple[str, str, str, str]:
    return (
        definition["parent"],
        definition["target"],
        definition["branch"],
        definition["directory"],
    )
