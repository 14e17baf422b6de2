"""Fleet previews (the ``baryon`` model): what one pending change would do to many resources,
grouped by change, and its approval, which runs exactly what was previewed.

`preview_changes` is the one way in for every caller (the API's CreateFleetPreview, the CLI,
a rollout's preview): per resource, the target version is chosen as an update chooses it and
the spec is checked against its schema, with no rendering, so a large fleet's request returns
at once; the job (engine/fleet_previews.py) then renders each resource (the deploy job's own
render, diffed as operations/previews.py diffs) and asks its engine for its own preview. The
domain (domain/fleet_previews.py) keeps the items, their basis and their approval.

An approval is decided and audited per resource as the UpdateEnvironment or
UpdateServiceInstance it makes (the policies see each resource as those calls would), and an
instance of a synced service updated by it blocks the sync, as a change by hand does.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from baryon.domain import fleet_previews, service_sync, services, versions
from baryon.domain.errors import DomainError
from baryon.domain.fleet_previews import ENVIRONMENT as ITEM_ENVIRONMENT
from baryon.domain.fleet_previews import INSTANCE as ITEM_INSTANCE
from baryon.domain.fleet_previews import ItemStatus, PlannedItem, ResourceChangeRecord
from baryon.operations import audit_trail, authorization, previews
from baryon.operations.context import RequestContext
from baryon.operations.deployed_resources import Loaded, load
from baryon.operations.errors import InvalidInput
from baryon.operations.registry import baryon_operation
from baryon.operations.resource_keys import (
    ENVIRONMENT,
    INSTANCE,
    ResourceKey,
    environment_key,
    instance_key,
)
from baryon.service_models import PROTON, baryon
from baryon.service_models.proton import DeploymentUpdateType
from baryon.store.tables import (
    Deployment,
    Environment,
    FleetPreviewItemRow,
    FleetPreviewRow,
    ServiceInstance,
    TemplateVersion,
)

# A preview shows this many groups in full; ListFleetPreviewItems pages through the rest.
GROUPS_SHOWN = 100


@dataclass(frozen=True)
class ResourceChange:
    """One resource's pending change: a target version (None: the deployed one; a major
    without a minor: that major's recommended minor) and a spec (None: the deployed one)."""

    resource: ResourceKey
    major: int | None = None
    minor: int | None = None
    spec: str | None = None


def preview_changes(
    ctx: RequestContext, changes: Sequence[ResourceChange], description: str | None = None
) -> str:
    """Records a fleet preview of ``changes`` (planned by a job: READY later) and returns
    its id. A resource that cannot take its change is an item that failed to plan, with the
    reason an update would give; an unknown resource is refused (NotFound)."""
    ttl = timedelta(hours=ctx.settings.fleet_preview_ttl_hours)
    with ctx.db.session(write=True) as session:
        items = [_planned(session, ctx, change) for change in changes]
        preview = fleet_previews.create(
            session,
            items,
            description=description,
            created_by=ctx.principal.label,
            ttl=ttl,
            now=ctx.now,
        )
        preview_id = preview.id
    ctx.jobs_enqueued()
    return preview_id


def _planned(session: Session, ctx: RequestContext, change: ResourceChange) -> PlannedItem:
    key = change.resource
    if key.kind not in (ENVIRONMENT, INSTANCE):
        raise InvalidInput(
            f"Fleet previews cover environments and service instances; {key.label} is neither.",
            field=("changes",),
        )
    loaded = load(session, key)
    row = loaded.row
    assert isinstance(row, Environment | ServiceInstance)  # pipelines were refused above
    base = PlannedItem(
        kind=ITEM_ENVIRONMENT if key.kind == ENVIRONMENT else ITEM_INSTANCE,
        name=key.name,
        service_name=key.service,
        target_arn=key.arn(ctx.arns),
        basis=fleet_previews.basis_of(session, row),
    )
    if loaded.busy:
        return _with(base, filtered=f"a deployment is in progress ({row.deployment_status})")
    try:
        target = _target(session, loaded, change)
    except DomainError as exc:
        return _with(base, problem=exc.message)
    spec = row.spec or "" if change.spec is None else change.spec
    located = _with(
        base,
        template_version_id=target.id,
        target_major=target.major,
        target_minor=target.minor,
        spec=spec,
    )
    try:
        inputs = previews.target_inputs(loaded, target, spec)
    except DomainError as exc:
        return _with(
            located,
            problem=(
                f"The spec does not fit version {target.major}.{target.minor}, so this upgrade "
                f"would be refused: {exc.message}"
            ),
        )
    if isinstance(row, ServiceInstance):
        environment = session.get(Environment, row.environment_id)
        try:
            if environment is not None:
                services.check_compatible(target, environment, "environment")
        except DomainError as exc:
            return _with(located, problem=exc.message)
    return _with(located, inputs=inputs)


def _with(item: PlannedItem, **changes: object) -> PlannedItem:
    return replace(item, **changes)  # type: ignore[arg-type]


def _target(session: Session, loaded: Loaded, change: ResourceChange) -> TemplateVersion:
    row = loaded.row
    deployed = (row.template_major, row.template_minor)
    major = change.major if change.major is not None else row.template_major
    if major != row.template_major:
        deployment_type = DeploymentUpdateType.MAJOR_VERSION
    elif change.minor is not None and change.minor != row.template_minor:
        deployment_type = DeploymentUpdateType.MINOR_VERSION
    elif change.minor is None and change.major is not None:
        deployment_type = DeploymentUpdateType.MINOR_VERSION  # that major's recommended
    else:
        deployment_type = DeploymentUpdateType.CURRENT_VERSION
    return versions.target_version(
        session,
        loaded.template,
        deployed=deployed,
        deployment_type=deployment_type,
        major=str(major) if deployment_type == DeploymentUpdateType.MAJOR_VERSION else None,
        minor=None if change.minor is None else str(change.minor),
    )


# --- the wire --------------------------------------------------------------------------------


@baryon_operation("CreateFleetPreview")
def create_fleet_preview(
    ctx: RequestContext, request: baryon.CreateFleetPreviewInput
) -> baryon.CreateFleetPreviewOutput:
    changes = [_change(entry, index) for index, entry in enumerate(request["changes"])]
    preview_id = preview_changes(ctx, changes, request.get("description"))
    return {"fleetPreview": fleet_preview(ctx, preview_id)}


def _change(entry: baryon.FleetPreviewChange, index: int) -> ResourceChange:
    environment = entry.get("environmentName")
    service, instance = entry.get("serviceName"), entry.get("serviceInstanceName")
    where = ("changes", str(index))
    if environment is not None and (service is not None or instance is not None):
        raise InvalidInput(
            "Name one resource per change: environmentName, or serviceName with "
            "serviceInstanceName.",
            field=(*where, "serviceName"),
        )
    if environment is not None:
        key = environment_key(environment)
    elif service is not None and instance is not None:
        key = instance_key(service, instance)
    else:
        raise InvalidInput(
            "Name the resource to change: environmentName, or serviceName with "
            "serviceInstanceName.",
            field=(*where, "environmentName"),
        )
    major, minor = entry.get("templateMajorVersion"), entry.get("templateMinorVersion")
    return ResourceChange(
        key,
        major=None if major is None else int(major),
        minor=None if minor is None else int(minor),
        spec=entry.get("spec"),
    )


@baryon_operation("GetFleetPreview")
def get_fleet_preview(
    ctx: RequestContext, request: baryon.GetFleetPreviewInput
) -> baryon.GetFleetPreviewOutput:
    return {"fleetPreview": fleet_preview(ctx, request["id"])}


@baryon_operation("ListFleetPreviewItems")
def list_fleet_preview_items(
    ctx: RequestContext, request: baryon.ListFleetPreviewItemsInput
) -> baryon.ListFleetPreviewItemsOutput:
    signature = request.get("signature")
    with ctx.db.session() as session:
        fleet_previews.find(session, request["id"])
        stmt = select(FleetPreviewItemRow).where(FleetPreviewItemRow.preview_id == request["id"])
        if signature is not None:
            stmt = stmt.where(FleetPreviewItemRow.signature == signature)
        scope = {"id": request["id"], "signature": signature or ""}
        rows, next_token = ctx.page(
            session, stmt, [FleetPreviewItemRow.position], request, scope=scope
        )
        output: baryon.ListFleetPreviewItemsOutput = {"items": [item_view(r[0]) for r in rows]}
    if next_token:
        output["nextToken"] = next_token
    return output


@baryon_operation("ListFleetPreviews")
def list_fleet_previews(
    ctx: RequestContext, request: baryon.ListFleetPreviewsInput
) -> baryon.ListFleetPreviewsOutput:
    counted = (
        select(func.count())
        .where(FleetPreviewItemRow.preview_id == FleetPreviewRow.id)
        .scalar_subquery()
    )
    with ctx.db.session() as session:
        stmt = select(FleetPreviewRow, counted.label("resource_count"))
        rows, next_token = ctx.page(
            session,
            stmt,
            [FleetPreviewRow.created_at, FleetPreviewRow.id],
            request,
            descending=True,
        )
        output: baryon.ListFleetPreviewsOutput = {
            "previews": [_entry(row[0], int(row[1] or 0)) for row in rows]
        }
    if next_token:
        output["nextToken"] = next_token
    return output


def _entry(preview: FleetPreviewRow, resource_count: int) -> baryon.FleetPreviewEntry:
    entry: baryon.FleetPreviewEntry = {
        "id": preview.id,
        "status": baryon.FleetPreviewStatus(preview.status),
        "createdBy": preview.created_by,
        "createdAt": preview.created_at,
        "expiresAt": preview.expires_at,
        "resourceCount": resource_count,
    }
    optional = {
        "description": preview.description,
        "approvedBy": preview.approved_by,
        "approvedAt": preview.approved_at,
    }
    for name, value in optional.items():
        if value is not None:
            entry[name] = value  # type: ignore[literal-required]
    return entry


@baryon_operation("ApproveFleetPreview")
def approve_fleet_preview(
    ctx: RequestContext, request: baryon.ApproveFleetPreviewInput
) -> baryon.ApproveFleetPreviewOutput:
    approve(ctx, request["id"])
    return {"fleetPreview": fleet_preview(ctx, request["id"])}


def approve(ctx: RequestContext, preview_id: str) -> list[str]:
    """Starts the approved preview's deployments; their ids. Forbidden when the caller may
    not make one of its updates; Conflict naming why it cannot (not ready, failed to plan
    somewhere, stale)."""
    with ctx.db.session() as session:
        fleet_previews.find(session, preview_id)
        updates = fleet_previews.approved_updates(session, preview_id)
    asked = [_update_request(update) for update in updates]
    for operation, request in asked:
        authorization.authorize(ctx, PROTON, operation, request)
    with ExitStack() as audited:
        # One record per resource, as its own update call would leave (with the spec before
        # and after); an approval refused as a whole fails each of them with its reason.
        for operation, request in asked:
            audited.enter_context(audit_trail.recorded(ctx, PROTON, operation, request))
        with ctx.db.session(write=True) as session:
            try:
                started = fleet_previews.approve(
                    session, ctx.arns, preview_id, approved_by=ctx.principal.label, now=ctx.now
                )
            except DomainError:
                session.commit()  # a preview found stale stays marked STALE
                raise
            _block_syncs(ctx, session, started)
            ids = [deployment.id for deployment in started]
    ctx.jobs_enqueued()
    return ids


def _update_request(update: fleet_previews.ApprovedUpdate) -> tuple[str, dict[str, Any]]:
    """The UpdateEnvironment / UpdateServiceInstance request an approved item amounts to."""
    request: dict[str, Any] = {"name": update.name, "deploymentType": update.deployment_type}
    if update.spec is not None:
        request["spec"] = update.spec
    if update.major is not None:
        request["templateMajorVersion"] = update.major
    if update.minor is not None:
        request["templateMinorVersion"] = update.minor
    if update.kind == ITEM_ENVIRONMENT:
        return "UpdateEnvironment", request
    return "UpdateServiceInstance", {**request, "serviceName": update.service_name or ""}


def _block_syncs(ctx: RequestContext, session: Session, started: Sequence[Deployment]) -> None:
    """Instances of a synced service updated by the approval block its sync, as
    UpdateServiceInstance by hand does (the sync must not undo what a person approved)."""
    by_service: dict[str, list[str]] = {}
    for deployment in started:
        if deployment.service_instance_name and deployment.service_name:
            by_service.setdefault(deployment.service_name, []).append(
                deployment.service_instance_name
            )
    for service_name, names in sorted(by_service.items()):
        service_sync.record_manual_change(
            session,
            service_name=service_name,
            instance_names=names,
            change=service_sync.ManualChange.UPDATED,
            operation=ctx.operation,
            caller=ctx.caller,
            now=ctx.now,
        )


@baryon_operation("DeleteFleetPreview")
def delete_fleet_preview(
    ctx: RequestContext, request: baryon.DeleteFleetPreviewInput
) -> baryon.DeleteFleetPreviewOutput:
    with ctx.db.session(write=True) as session:
        # The change sets it kept are dropped by a job: an API call never touches a cloud.
        kept = fleet_previews.delete(session, request["id"], ctx.now)
    if kept:
        ctx.jobs_enqueued()
    return {}


# --- views -----------------------------------------------------------------------------------


def fleet_preview(ctx: RequestContext, preview_id: str) -> baryon.FleetPreview:
    """The preview with its summary and its items grouped by change."""
    with ctx.db.session() as session:
        preview = fleet_previews.find(session, preview_id)
        items = fleet_previews.items_of(session, preview_id)
        stale = None
        if preview.status == fleet_previews.PreviewStatus.READY:
            stale = fleet_previews.stale_reason(session, preview, items, ctx.now)
        return _preview_view(preview, items, stale)


def _preview_view(
    preview: FleetPreviewRow, items: Sequence[FleetPreviewItemRow], stale: str | None
) -> baryon.FleetPreview:
    summary = fleet_previews.summary_of(items)
    view: baryon.FleetPreview = {
        "id": preview.id,
        "status": baryon.FleetPreviewStatus(preview.status),
        "createdBy": preview.created_by,
        "createdAt": preview.created_at,
        "expiresAt": preview.expires_at,
        "summary": {
            "noChange": summary.no_change,
            "change": summary.change,
            "replace": summary.replace,
            "dataLoss": summary.data_loss,
            "failed": summary.failed,
            "filtered": summary.filtered,
            "pending": summary.pending,
            "driftOverwrite": summary.drift_overwrite,
        },
        "groups": _groups(items)[:GROUPS_SHOWN],
    }
    optional = {
        "description": preview.description,
        "completedAt": preview.completed_at,
        "approvedBy": preview.approved_by,
        "approvedAt": preview.approved_at,
        "stale": stale,
    }
    for name, value in optional.items():
        if value is not None:
            view[name] = value  # type: ignore[literal-required]
    return view


def group_key(item: FleetPreviewItemRow) -> str:
    """Items planned alike share their signature; the others group by status and reason."""
    return item.signature or f"{item.status}:{item.problem or ''}"


def _groups(items: Sequence[FleetPreviewItemRow]) -> list[baryon.FleetPreviewGroup]:
    grouped: dict[str, list[FleetPreviewItemRow]] = {}
    for item in items:
        grouped.setdefault(group_key(item), []).append(item)
    return [
        {
            "signature": key,
            "count": len(members),
            "status": baryon.FleetPreviewItemStatus(members[0].status),
            "risks": [baryon.FleetPreviewRisk(r) for r in members[0].risks or []],
            "example": item_view(members[0]),
        }
        for key, members in grouped.items()
    ]


def item_view(item: FleetPreviewItemRow) -> baryon.FleetPreviewItem:
    view: baryon.FleetPreviewItem = {
        "status": baryon.FleetPreviewItemStatus(item.status),
        "signature": group_key(item),
        "risks": [baryon.FleetPreviewRisk(r) for r in item.risks or []],
        "resourceChanges": [
            _resource_change(ResourceChangeRecord.of(c)) for c in item.resource_changes or []
        ],
        "files": [
            {"path": str(d.get("path")), "diff": "\n".join(d.get("lines", []))}
            for d in item.diff or []
        ],
    }
    if item.resource_kind == ITEM_ENVIRONMENT:
        view["environmentName"] = item.resource_name
    else:
        view["serviceName"] = item.service_name or ""
        view["serviceInstanceName"] = item.resource_name
    optional = {
        "problem": item.problem,
        "engine": item.engine,
        "changeSetId": item.change_set_id,
        "deploymentId": item.deployment_id,
        "targetTemplateMajorVersion": None if item.target_major is None else str(item.target_major),
        "targetTemplateMinorVersion": None if item.target_minor is None else str(item.target_minor),
    }
    for name, value in optional.items():
        if value is not None:
            view[name] = value  # type: ignore[literal-required]
    return view


def _resource_change(change: ResourceChangeRecord) -> baryon.FleetPreviewResourceChange:
    view: baryon.FleetPreviewResourceChange = {
        "action": change.action,
        "logicalResourceId": change.logical_id,
        "resourceType": change.resource_type,
        "scope": list(change.scope),
        "changedPaths": list(change.paths),
    }
    if change.physical_id is not None:
        view["physicalResourceId"] = change.physical_id
    if change.replacement is not None:
        view["replacement"] = change.replacement
    if change.policy_action is not None:
        view["policyAction"] = change.policy_action
    return view


__all__ = ["ItemStatus", "ResourceChange", "approve", "fleet_preview", "preview_changes"]
