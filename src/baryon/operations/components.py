"""Component operations (8)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from baryon.domain import components, deployments
from baryon.domain.tags import set_tags
from baryon.operations import resource_outputs, views
from baryon.operations.context import RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.store.tables import Component

_FILTERS = {
    "environmentName": Component.environment_name,
    "serviceName": Component.service_name,
    "serviceInstanceName": Component.service_instance_name,
}


@proton_operation("CreateComponent")
def create_component(
    ctx: RequestContext, request: proton.CreateComponentInput
) -> proton.CreateComponentOutput:
    with ctx.db.session(write=True) as session:
        component = components.create_component(
            session,
            ctx.arns,
            name=request["name"],
            manifest=request["manifest"],
            template_file=request["templateFile"],
            environment_name=request.get("environmentName"),
            service_name=request.get("serviceName"),
            instance_name=request.get("serviceInstanceName"),
            service_spec=request.get("serviceSpec"),
            description=request.get("description"),
            client_token=request.get("clientToken"),
            now=ctx.now,
        )
        if request.get("tags"):
            set_tags(session, ctx.arns.component(component.name), request["tags"])
        result: proton.CreateComponentOutput = {"component": views.component(ctx.arns, component)}
    ctx.jobs_enqueued()
    return result


@proton_operation("GetComponent")
def get_component(
    ctx: RequestContext, request: proton.GetComponentInput
) -> proton.GetComponentOutput:
    with ctx.db.session() as session:
        component = components.find_component(session, request["name"])
        return {"component": views.component(ctx.arns, component)}


@proton_operation("UpdateComponent")
def update_component(
    ctx: RequestContext, request: proton.UpdateComponentInput
) -> proton.UpdateComponentOutput:
    with ctx.db.session(write=True) as session:
        component = components.update_component(
            session,
            ctx.arns,
            name=request["name"],
            deployment_type=request["deploymentType"],
            description=request.get("description"),
            service_name=request.get("serviceName"),
            instance_name=request.get("serviceInstanceName"),
            service_spec=request.get("serviceSpec"),
            template_file=request.get("templateFile"),
            client_token=request.get("clientToken"),
            now=ctx.now,
        )
        result: proton.UpdateComponentOutput = {"component": views.component(ctx.arns, component)}
    ctx.jobs_enqueued()
    return result


@proton_operation("DeleteComponent")
def delete_component(
    ctx: RequestContext, request: proton.DeleteComponentInput
) -> proton.DeleteComponentOutput:
    with ctx.db.session(write=True) as session:
        component = components.delete_component(session, ctx.arns, request["name"], ctx.now)
        result: proton.DeleteComponentOutput = {"component": views.component(ctx.arns, component)}
    ctx.jobs_enqueued()
    return result


@proton_operation("ListComponents")
def list_components(
    ctx: RequestContext, request: proton.ListComponentsInput
) -> proton.ListComponentsOutput:
    stmt = select(Component)
    scope = {}
    named: Mapping[str, Any] = request  # filters by member name, looked up by name
    for member, column in _FILTERS.items():
        if named.get(member):
            stmt = stmt.where(column == named[member])
            scope[member] = named[member]
    with ctx.db.session() as session:
        rows, next_token = ctx.page(session, stmt, [Component.name], request, scope=scope)
        return {
            "components": [views.component_summary(ctx.arns, row[0]) for row in rows],
            "nextToken": next_token,
        }


@proton_operation("CancelComponentDeployment")
def cancel_component_deployment(
    ctx: RequestContext, request: proton.CancelComponentDeploymentInput
) -> proton.CancelComponentDeploymentOutput:
    with ctx.db.session(write=True) as session:
        component = components.find_component(session, request["componentName"], lock=True)
        deployments.request_cancel(session, component, components.label(component), ctx.now)
        result: proton.CancelComponentDeploymentOutput = {
            "component": views.component(ctx.arns, component)
        }
    ctx.jobs_enqueued()
    return result


@proton_operation("ListComponentOutputs")
def list_component_outputs(
    ctx: RequestContext, request: proton.ListComponentOutputsInput
) -> proton.ListComponentOutputsOutput:
    with ctx.db.session() as session:
        component = components.find_component(session, request["componentName"])
        return {
            "outputs": resource_outputs.outputs(
                session, ctx.arns.component(component.name), component, request.get("deploymentId")
            )
        }


@proton_operation("ListComponentProvisionedResources")
def list_component_provisioned_resources(
    ctx: RequestContext, request: proton.ListComponentProvisionedResourcesInput
) -> proton.ListComponentProvisionedResourcesOutput:
    with ctx.db.session() as session:
        component = components.find_component(session, request["componentName"])
        return {
            "provisionedResources": resource_outputs.provisioned_resources(
                session, ctx.arns.component(component.name)
            )
        }
