"""Service and service pipeline operations (9)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from baryon.domain import deployments, service_sync, services, specs
from baryon.operations import resource_outputs, views
from baryon.operations.context import RequestContext
from baryon.operations.deletion_protection import ProtectedKind, refuse_if_protected
from baryon.operations.existing_names import ExistingName, refuse_unless_created
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.store.tables import Service, ServiceInstance


def _service_view(ctx: RequestContext, session: Any, service: Service) -> proton.Service:
    return views.service(ctx.arns, service, services.pipeline_of(session, service))


@proton_operation("CreateService")
def create_service(
    ctx: RequestContext,
    request: proton.CreateServiceInput,
    *,
    existing: ExistingName = ExistingName.RETURN_IT,
) -> proton.CreateServiceOutput:
    with ctx.db.session(write=True) as session:
        service, created = services.create_service(
            session,
            ctx.arns,
            name=request["name"],
            template_name=request["templateName"],
            major=request["templateMajorVersion"],
            minor=request.get("templateMinorVersion"),
            spec=request["spec"],
            description=request.get("description"),
            repository={
                "repositoryConnectionArn": request.get("repositoryConnectionArn"),
                "repositoryId": request.get("repositoryId"),
                "branchName": request.get("branchName"),
            },
            now=ctx.now,
            tags=request.get("tags"),
        )
        refuse_unless_created(existing, created, f"service '{service.name}'")
        result: proton.CreateServiceOutput = {"service": _service_view(ctx, session, service)}
    ctx.jobs_enqueued()
    return result


@proton_operation("GetService")
def get_service(ctx: RequestContext, request: proton.GetServiceInput) -> proton.GetServiceOutput:
    with ctx.db.session() as session:
        service = services.find_service(session, request["name"])
        return {"service": _service_view(ctx, session, service)}


@proton_operation("UpdateService")
def update_service(
    ctx: RequestContext, request: proton.UpdateServiceInput
) -> proton.UpdateServiceOutput:
    with ctx.db.session(write=True) as session:
        before = _instance_names(session, request["name"])
        service = services.update_service(
            session,
            ctx.arns,
            name=request["name"],
            description=request.get("description"),
            spec=request.get("spec"),
            now=ctx.now,
        )
        if request.get("spec") is not None:
            # Instances added or removed by hand block a synced service's sync.
            after = {e.name for e in specs.parse_service_spec(request["spec"]).instances}
            _block_sync(
                ctx,
                session,
                service.name,
                sorted(after - before),
                service_sync.ManualChange.CREATED,
            )
            _block_sync(
                ctx,
                session,
                service.name,
                sorted(before - after),
                service_sync.ManualChange.DELETED,
            )
        result: proton.UpdateServiceOutput = {"service": _service_view(ctx, session, service)}
    ctx.jobs_enqueued()
    return result


@proton_operation("DeleteService")
def delete_service(
    ctx: RequestContext, request: proton.DeleteServiceInput
) -> proton.DeleteServiceOutput:
    with ctx.db.session(write=True) as session:
        refuse_if_protected(session, ctx, ProtectedKind.SERVICE, request["name"])
        before = _instance_names(session, request["name"])
        service = services.delete_service(session, ctx.arns, request["name"], ctx.now)
        _block_sync(
            ctx, session, request["name"], sorted(before), service_sync.ManualChange.DELETED
        )
        pipeline = (
            None
            if service.status != proton.ServiceStatus.DELETE_IN_PROGRESS
            else (services.pipeline_of(session, service))
        )
        result: proton.DeleteServiceOutput = {"service": views.service(ctx.arns, service, pipeline)}
    ctx.jobs_enqueued()
    return result


def _instance_names(session: Any, service_name: str) -> set[str]:
    return set(
        session.scalars(
            select(ServiceInstance.name).where(ServiceInstance.service_name == service_name)
        )
    )


def _block_sync(
    ctx: RequestContext,
    session: Any,
    service_name: str,
    instance_names: list[str],
    change: service_sync.ManualChange,
) -> None:
    service_sync.record_manual_change(
        session,
        service_name=service_name,
        instance_names=instance_names,
        change=change,
        operation=ctx.operation,
        caller=ctx.caller,
        now=ctx.now,
    )


@proton_operation("ListServices")
def list_services(
    ctx: RequestContext, request: proton.ListServicesInput
) -> proton.ListServicesOutput:
    with ctx.db.session() as session:
        # Summaries carry no spec: the row holds only its key, the text is not read.
        listing = select(Service)
        rows, next_token = ctx.page(session, listing, [Service.name], request)
        return {
            "services": [views.service_summary(ctx.arns, row[0]) for row in rows],
            "nextToken": next_token,
        }


@proton_operation("UpdateServicePipeline")
def update_service_pipeline(
    ctx: RequestContext, request: proton.UpdateServicePipelineInput
) -> proton.UpdateServicePipelineOutput:
    with ctx.db.session(write=True) as session:
        pipeline = services.update_service_pipeline(
            session,
            ctx.arns,
            service_name=request["serviceName"],
            deployment_type=request["deploymentType"],
            spec=request["spec"],
            major=request.get("templateMajorVersion"),
            minor=request.get("templateMinorVersion"),
            now=ctx.now,
        )
        service = services.find_service(session, request["serviceName"])
        result: proton.UpdateServicePipelineOutput = {
            "pipeline": views.service_pipeline(ctx.arns, service, pipeline)
        }
    ctx.jobs_enqueued()
    return result


@proton_operation("CancelServicePipelineDeployment")
def cancel_service_pipeline_deployment(
    ctx: RequestContext, request: proton.CancelServicePipelineDeploymentInput
) -> proton.CancelServicePipelineDeploymentOutput:
    with ctx.db.session(write=True) as session:
        service = services.find_service(session, request["serviceName"], lock=True)
        pipeline = services.find_pipeline(session, service, lock=True)
        if not services.cancel_waiting_pipeline(session, service, ctx.now):
            deployments.request_cancel(
                session, pipeline, f"The pipeline of service '{service.name}'", ctx.now
            )
        result: proton.CancelServicePipelineDeploymentOutput = {
            "pipeline": views.service_pipeline(ctx.arns, service, pipeline)
        }
    ctx.jobs_enqueued()
    return result


@proton_operation("ListServicePipelineOutputs")
def list_service_pipeline_outputs(
    ctx: RequestContext, request: proton.ListServicePipelineOutputsInput
) -> proton.ListServicePipelineOutputsOutput:
    with ctx.db.session() as session:
        service = services.find_service(session, request["serviceName"])
        pipeline = services.find_pipeline(session, service)
        return {
            "outputs": resource_outputs.outputs(
                session,
                ctx.arns.service_pipeline(service.name),
                pipeline,
                request.get("deploymentId"),
            )
        }


@proton_operation("ListServicePipelineProvisionedResources")
def list_service_pipeline_provisioned_resources(
    ctx: RequestContext, request: proton.ListServicePipelineProvisionedResourcesInput
) -> proton.ListServicePipelineProvisionedResourcesOutput:
    with ctx.db.session() as session:
        service = services.find_service(session, request["serviceName"])
        services.find_pipeline(session, service)
        return {
            "provisionedResources": resource_outputs.provisioned_resources(
                session, ctx.arns.service_pipeline(service.name)
            )
        }
