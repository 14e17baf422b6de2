"""Deployment operations (3) and GetResourcesSummary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from baryon.domain import deployments, outcomes
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.domain.resources_summary import resources_summary
from baryon.operations import views
from baryon.operations.context import RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.store.tables import Deployment

_NAME_FILTERS = {
    "environmentName": Deployment.environment_name,
    "serviceName": Deployment.service_name,
    "serviceInstanceName": Deployment.service_instance_name,
    "componentName": Deployment.component_name,
}


def _check_instance_filter(request: Mapping[str, Any]) -> None:
    # Instance names are unique within a service only.
    if request.get("serviceInstanceName") and not request.get("serviceName"):
        raise InvalidInput(
            "serviceInstanceName needs serviceName: instance names are unique only within "
            "their service.",
            field=("serviceName",),
        )


def _check_names(deployment: Deployment, request: Mapping[str, Any]) -> None:
    for member, column in _NAME_FILTERS.items():
        if request.get(member) and getattr(deployment, column.key) != request[member]:
            raise NotFound(
                f"The deployment '{deployment.id}' does not belong to {member} '{request[member]}'."
            )


@proton_operation("GetDeployment")
def get_deployment(
    ctx: RequestContext, request: proton.GetDeploymentInput
) -> proton.GetDeploymentOutput:
    with ctx.db.session() as session:
        _check_instance_filter(request)
        deployment = deployments.find_deployment(session, request["id"])
        _check_names(deployment, request)
        return {"deployment": views.deployment(ctx.arns, deployment)}


@proton_operation("ListDeployments")
def list_deployments(
    ctx: RequestContext, request: proton.ListDeploymentsInput
) -> proton.ListDeploymentsOutput:
    _check_instance_filter(request)
    stmt = select(Deployment)
    scope = {}
    named: Mapping[str, Any] = request  # filters by member name, looked up by name
    for member, column in _NAME_FILTERS.items():
        if named.get(member):
            stmt = stmt.where(column == named[member])
            scope[member] = named[member]
    with ctx.db.session() as session:
        rows, next_token = ctx.page(
            session,
            stmt,
            [Deployment.created_at, Deployment.id],
            request,
            scope=scope,
            descending=True,
        )
        return {
            "deployments": [views.deployment_summary(ctx.arns, row[0]) for row in rows],
            "nextToken": next_token,
        }


@proton_operation("DeleteDeployment")
def delete_deployment(
    ctx: RequestContext, request: proton.DeleteDeploymentInput
) -> proton.DeleteDeploymentOutput:
    with ctx.db.session(write=True) as session:
        deployment = deployments.find_deployment(session, request["id"])
        if deployment.status not in deployments.TERMINAL:
            raise Conflict(
                f"The deployment '{deployment.id}' is {deployment.status}; only finished "
                "deployments can be deleted."
            )
        resource = outcomes.resource_of(session, deployment)
        if resource is not None and resource.last_succeeded_deployment_id == deployment.id:
            raise Conflict(
                f"The deployment '{deployment.id}' is what {deployment.target_arn} runs now; "
                "it can be deleted once another deployment succeeds or the resource is gone."
            )
        view = views.deployment(ctx.arns, deployment)
        session.delete(deployment)
        return {"deployment": view}


@proton_operation("GetResourcesSummary")
def get_resources_summary(
    ctx: RequestContext, request: proton.GetResourcesSummaryInput
) -> proton.GetResourcesSummaryOutput:
    with ctx.db.session() as session:
        return {"counts": resources_summary(session)}
