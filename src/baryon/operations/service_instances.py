"""Service instance operations (7)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_

from baryon.domain import deployments, fleet, idempotency, instance_reads, service_sync, services
from baryon.domain.errors import InvalidInput, NotFound
from baryon.domain.tags import set_tags
from baryon.operations import resource_outputs, views
from baryon.operations.context import RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.store.paging import KeyColumn
from baryon.store.tables import ServiceInstance

SI = ServiceInstance
_EQUALITY_FILTERS: dict[str, KeyColumn] = {
    "name": SI.name,
    "deploymentStatus": SI.deployment_status,
    "templateName": SI.template_name,
    "serviceName": SI.service_name,
    "environmentName": SI.environment_name,
}
_TIME_FILTERS = {
    "lastDeploymentAttemptedAtBefore": (SI.last_deployment_attempted_at, "before"),
    "lastDeploymentAttemptedAtAfter": (SI.last_deployment_attempted_at, "after"),
    "createdAtBefore": (SI.created_at, "before"),
    "createdAtAfter": (SI.created_at, "after"),
}
_SORT_COLUMNS: dict[str, KeyColumn] = {
    "name": SI.name,
    "deploymentStatus": SI.deployment_status,
    "templateName": SI.template_name,
    "serviceName": SI.service_name,
    "environmentName": SI.environment_name,
    "lastDeploymentAttemptedAt": SI.last_deployment_attempted_at,
    "createdAt": SI.created_at,
}


@proton_operation("CreateServiceInstance")
def create_service_instance(
    ctx: RequestContext, request: proton.CreateServiceInstanceInput
) -> proton.CreateServiceInstanceOutput:
    with ctx.db.session(write=True) as session:
        previous = _retried(session, ctx, request, request["serviceName"], request["name"])
        if previous is not None:
            return {"serviceInstance": views.service_instance(ctx.arns, previous)}
        instance = services.create_service_instance(
            session,
            ctx.arns,
            service_name=request["serviceName"],
            name=request["name"],
            spec=request["spec"],
            major=request.get("templateMajorVersion"),
            minor=request.get("templateMinorVersion"),
            client_token=request.get("clientToken"),
            now=ctx.now,
        )
        if request.get("tags"):
            set_tags(
                session,
                ctx.arns.service_instance(instance.service_name, instance.name),
                request["tags"],
            )
        _remember(session, ctx, request, instance)
        _block_sync(ctx, session, instance, service_sync.ManualChange.CREATED)
        result: proton.CreateServiceInstanceOutput = {
            "serviceInstance": views.service_instance(ctx.arns, instance)
        }
    ctx.jobs_enqueued()
    return result


@proton_operation("GetServiceInstance")
def get_service_instance(
    ctx: RequestContext, request: proton.GetServiceInstanceInput
) -> proton.GetServiceInstanceOutput:
    with ctx.db.single_read() as connection:
        row = instance_reads.instance(connection, request["serviceName"], request["name"])
    return {"serviceInstance": views.service_instance(ctx.arns, row)}


@proton_operation("UpdateServiceInstance")
def update_service_instance(
    ctx: RequestContext, request: proton.UpdateServiceInstanceInput
) -> proton.UpdateServiceInstanceOutput:
    with ctx.db.session(write=True) as session:
        previous = _retried(session, ctx, request, request["serviceName"], request["name"])
        if previous is not None:
            return {"serviceInstance": views.service_instance(ctx.arns, previous)}
        instance = services.update_service_instance(
            session,
            ctx.arns,
            service_name=request["serviceName"],
            name=request["name"],
            deployment_type=request["deploymentType"],
            spec=request.get("spec"),
            major=request.get("templateMajorVersion"),
            minor=request.get("templateMinorVersion"),
            client_token=request.get("clientToken"),
            now=ctx.now,
        )
        _remember(session, ctx, request, instance)
        if request["deploymentType"] != proton.DeploymentUpdateType.NONE:
            _block_sync(ctx, session, instance, service_sync.ManualChange.UPDATED)
        result: proton.UpdateServiceInstanceOutput = {
            "serviceInstance": views.service_instance(ctx.arns, instance)
        }
    ctx.jobs_enqueued()
    return result


def _block_sync(
    ctx: RequestContext, session: Any, instance: ServiceInstance, change: service_sync.ManualChange
) -> None:
    """A change made by hand to an instance of a synced service blocks its sync (Proton's
    rule: the sync must not undo what a person did)."""
    service_sync.record_manual_change(
        session,
        service_name=instance.service_name,
        instance_names=[instance.name],
        change=change,
        operation=ctx.operation,
        caller=ctx.caller,
        now=ctx.now,
    )


def _retried(
    session: Any, ctx: RequestContext, request: Mapping[str, Any], service_name: str, name: str
) -> ServiceInstance | None:
    """The instance a previous request with this clientToken (and these parameters) made or
    updated: a retry of it changes nothing and starts no second deployment."""
    ref = idempotency.recall(session, ctx.operation, request, ctx.now)
    if ref is None:
        return None
    if ref != f"{service_name}/{name}":
        raise InvalidInput(
            f"The clientToken '{request['clientToken']}' was already used for another service "
            "instance.",
            field=("clientToken",),
        )
    try:
        return services.find_instance(session, service_name, name)
    except NotFound as exc:
        raise InvalidInput(
            f"The clientToken '{request['clientToken']}' was used for service instance "
            f"'{name}', which has been deleted since; retry with a new token.",
            field=("clientToken",),
        ) from exc


def _remember(
    session: Any, ctx: RequestContext, request: Mapping[str, Any], instance: ServiceInstance
) -> None:
    ref = f"{instance.service_name}/{instance.name}"
    idempotency.remember(session, ctx.operation, request, ref, ctx.now)


@proton_operation("ListServiceInstances")
def list_service_instances(
    ctx: RequestContext, request: proton.ListServiceInstancesInput
) -> proton.ListServiceInstancesOutput:
    filters = request.get("filters") or []
    # Only the summary's columns, as plain rows: building 50 mapped objects (identity map,
    # instance state) was a sixth of a listing's server CPU (py-spy under bench.api_latency).
    stmt = instance_reads.summaries()
    if request.get("serviceName"):
        stmt = stmt.where(SI.service_name == request["serviceName"])
    stmt = _apply_filters(stmt, filters)
    sort_by = request.get("sortBy")
    descending = request.get("sortOrder") == proton.SortOrder.DESCENDING
    # Ties keep a stable, readable order: by service, then by instance name (ListServiceInstances
    # documents that sorting by serviceName sorts each service's instances by name).
    keys: list[KeyColumn] = []
    for column in (_SORT_COLUMNS[sort_by or "serviceName"], SI.service_name, SI.name, SI.id):
        if not any(column is key for key in keys):
            keys.append(column)
    scope = {
        "serviceName": request.get("serviceName"),
        "filters": filters,
        "sortBy": sort_by,
        "sortOrder": request.get("sortOrder"),
    }
    with ctx.db.single_read() as connection:
        rows, next_token = ctx.page(
            connection, stmt, keys, request, scope=scope, descending=descending
        )
        # An instance names its service (a foreign key): only an empty page needs a second
        # statement to tell an unknown service (NotFound) from one without instances.
        if request.get("serviceName") and not rows:
            instance_reads.require_service(connection, request["serviceName"])
    return {
        "serviceInstances": [views.service_instance_summary(ctx.arns, r) for r in rows],
        "nextToken": next_token,
    }


def _apply_filters(stmt: Any, filters: Sequence[Mapping[str, Any]]) -> Any:
    """Filters with different keys all apply; repeating a key accepts any of its values."""
    by_key: dict[str, list[str]] = {}
    for index, item in enumerate(filters, start=1):
        if "key" not in item or "value" not in item:
            # AWS messages number list members from 1; a field path indexes from 0.
            raise InvalidInput(
                f"filters.{index}.member: needs both key and value.", field=("filters", index - 1)
            )
        by_key.setdefault(item["key"], []).append(item["value"])
    for key, values in by_key.items():
        if key in _EQUALITY_FILTERS:
            stmt = stmt.where(_EQUALITY_FILTERS[key].in_(values))
        elif key in _TIME_FILTERS:
            column, direction = _TIME_FILTERS[key]
            moments = [_timestamp(key, value) for value in values]
            stmt = stmt.where(
                or_(
                    *(
                        column < moment if direction == "before" else column > moment
                        for moment in moments
                    )
                )
            )
        elif key == "deployedTemplateVersionStatus":
            bad = [v for v in values if v not in set(fleet.VersionStatus)]  # 3.11: no `in Enum`
            if bad:
                raise InvalidInput(
                    f"filters: deployedTemplateVersionStatus must be one of "
                    f"{', '.join(fleet.VersionStatus)}; got {', '.join(bad)}.",
                    field=("filters",),
                )
            stmt, status = fleet.with_version_status(
                stmt, SI.template_id, SI.template_major, SI.template_minor
            )
            stmt = stmt.where(status.in_(values))
    return stmt


def _timestamp(key: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"filters: {key} needs an RFC 3339 time such as 1985-04-12T23:20:50.52Z, "
            f"got '{value}'.",
            field=("filters",),
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@proton_operation("CancelServiceInstanceDeployment")
def cancel_service_instance_deployment(
    ctx: RequestContext, request: proton.CancelServiceInstanceDeploymentInput
) -> proton.CancelServiceInstanceDeploymentOutput:
    with ctx.db.session(write=True) as session:
        instance = services.find_instance(
            session, request["serviceName"], request["serviceInstanceName"], lock=True
        )
        deployments.request_cancel(
            session, instance, f"Service instance '{instance.name}'", ctx.now
        )
        result: proton.CancelServiceInstanceDeploymentOutput = {
            "serviceInstance": views.service_instance(ctx.arns, instance)
        }
    ctx.jobs_enqueued()
    return result


@proton_operation("ListServiceInstanceOutputs")
def list_service_instance_outputs(
    ctx: RequestContext, request: proton.ListServiceInstanceOutputsInput
) -> proton.ListServiceInstanceOutputsOutput:
    with ctx.db.session() as session:
        instance = services.find_instance(
            session, request["serviceName"], request["serviceInstanceName"]
        )
        return {
            "outputs": resource_outputs.outputs(
                session,
                ctx.arns.service_instance(instance.service_name, instance.name),
                instance,
                request.get("deploymentId"),
            )
        }


@proton_operation("ListServiceInstanceProvisionedResources")
def list_service_instance_provisioned_resources(
    ctx: RequestContext, request: proton.ListServiceInstanceProvisionedResourcesInput
) -> proton.ListServiceInstanceProvisionedResourcesOutput:
    with ctx.db.session() as session:
        instance = services.find_instance(
            session, request["serviceName"], request["serviceInstanceName"]
        )
        return {
            "provisionedResources": resource_outputs.provisioned_resources(
                session, ctx.arns.service_instance(instance.service_name, instance.name)
            )
        }
