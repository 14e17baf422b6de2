"""Service sync: its configuration, an instance's sync status, and sync blockers (7).

The rules live in domain/service_sync.py and the sync itself in engine/service_sync.py (the
SERVICE_SYNC job); these operations record desired state and enqueue that job. The
SERVICE_SYNC side of GetRepositorySyncStatus and ListRepositorySyncDefinitions is answered by
``repository_sync_status`` and ``repository_sync_definitions`` below, for the operations that
own those names (operations/template_sync.py) to call.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from baryon.domain import service_sync
from baryon.operations.context import RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.store.tables import ServiceSyncConfigRow


def _save(
    ctx: RequestContext,
    request: proton.CreateServiceSyncConfigInput | proton.UpdateServiceSyncConfigInput,
    save: Callable[..., ServiceSyncConfigRow],
) -> proton.ServiceSyncConfig:
    """Create and Update take the same members; each enqueues a sync."""
    with ctx.db.session(write=True) as session:
        row = save(
            session,
            service_name=request["serviceName"],
            repository_provider=request["repositoryProvider"],
            repository_name=request["repositoryName"],
            branch=request["branch"],
            file_path=request["filePath"],
            now=ctx.now,
        )
        config = service_sync.wire_config(row)
    ctx.jobs_enqueued()
    return config


@proton_operation("CreateServiceSyncConfig")
def create_service_sync_config(
    ctx: RequestContext, request: proton.CreateServiceSyncConfigInput
) -> proton.CreateServiceSyncConfigOutput:
    return {"serviceSyncConfig": _save(ctx, request, service_sync.create_config)}


@proton_operation("GetServiceSyncConfig")
def get_service_sync_config(
    ctx: RequestContext, request: proton.GetServiceSyncConfigInput
) -> proton.GetServiceSyncConfigOutput:
    # The output's member is optional: a service without a config answers an empty result.
    with ctx.db.session() as session:
        row = service_sync.config_of_service(session, request["serviceName"])
        return {} if row is None else {"serviceSyncConfig": service_sync.wire_config(row)}


@proton_operation("UpdateServiceSyncConfig")
def update_service_sync_config(
    ctx: RequestContext, request: proton.UpdateServiceSyncConfigInput
) -> proton.UpdateServiceSyncConfigOutput:
    return {"serviceSyncConfig": _save(ctx, request, service_sync.update_config)}


@proton_operation("DeleteServiceSyncConfig")
def delete_service_sync_config(
    ctx: RequestContext, request: proton.DeleteServiceSyncConfigInput
) -> proton.DeleteServiceSyncConfigOutput:
    with ctx.db.session(write=True) as session:
        row = service_sync.delete_config(session, request["serviceName"])
        return {"serviceSyncConfig": service_sync.wire_config(row)}


@proton_operation("GetServiceInstanceSyncStatus")
def get_service_instance_sync_status(
    ctx: RequestContext, request: proton.GetServiceInstanceSyncStatusInput
) -> proton.GetServiceInstanceSyncStatusOutput:
    with ctx.db.session() as session:
        return service_sync.instance_sync_status(
            session, request["serviceName"], request["serviceInstanceName"]
        )


@proton_operation("GetServiceSyncBlockerSummary")
def get_service_sync_blocker_summary(
    ctx: RequestContext, request: proton.GetServiceSyncBlockerSummaryInput
) -> proton.GetServiceSyncBlockerSummaryOutput:
    instance_name = request.get("serviceInstanceName")
    with ctx.db.session() as session:
        rows = service_sync.latest_blockers(session, request["serviceName"], instance_name)
        summary: proton.ServiceSyncBlockerSummary = {
            "serviceName": request["serviceName"],
            "latestBlockers": [service_sync.wire_blocker(row) for row in rows],
        }
        if instance_name:
            summary["serviceInstanceName"] = instance_name
        return {"serviceSyncBlockerSummary": summary}


@proton_operation("UpdateServiceSyncBlocker")
def update_service_sync_blocker(
    ctx: RequestContext, request: proton.UpdateServiceSyncBlockerInput
) -> proton.UpdateServiceSyncBlockerOutput:
    with ctx.db.session(write=True) as session:
        row = service_sync.resolve_blocker(
            session, request["id"], request["resolvedReason"], ctx.now
        )
        result: proton.UpdateServiceSyncBlockerOutput = {
            "serviceName": row.service_name,
            "serviceSyncBlocker": service_sync.wire_blocker(row),
        }
        if row.service_instance_name:
            result["serviceInstanceName"] = row.service_instance_name
    ctx.jobs_enqueued()
    return result


# --- for GetRepositorySyncStatus and ListRepositorySyncDefinitions (syncType SERVICE_SYNC) ---


def repository_sync_status(
    session: Session, request: proton.GetRepositorySyncStatusInput
) -> proton.GetRepositorySyncStatusOutput:
    attempt = service_sync.repository_status(
        session, request["repositoryProvider"], request["repositoryName"], request["branch"]
    )
    return {} if attempt is None else {"latestSync": attempt}


def repository_sync_definitions(
    session: Session, request: proton.ListRepositorySyncDefinitionsInput
) -> list[proton.RepositorySyncDefinition]:
    """Every definition (the caller pages them)."""
    return service_sync.sync_definitions(
        session, request["repositoryProvider"], request["repositoryName"]
    )
