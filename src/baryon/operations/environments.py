"""Environment operations (8)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, or_, select

from baryon.domain import deployments, environments
from baryon.domain.environments import EnvironmentSettings
from baryon.domain.tags import set_tags
from baryon.operations import resource_outputs, views
from baryon.operations.context import RequestContext
from baryon.operations.deletion_protection import ProtectedKind, refuse_if_protected
from baryon.operations.existing_names import ExistingName, refuse_unless_created
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.store.tables import Environment, Template


def _settings(request: Mapping[str, Any]) -> EnvironmentSettings:
    return EnvironmentSettings(
        description=request.get("description"),
        proton_service_role_arn=request.get("protonServiceRoleArn"),
        codebuild_role_arn=request.get("codebuildRoleArn"),
        component_role_arn=request.get("componentRoleArn"),
        environment_account_connection_id=request.get("environmentAccountConnectionId"),
        provisioning_repository=request.get("provisioningRepository"),
    )


@proton_operation("CreateEnvironment")
def create_environment(
    ctx: RequestContext,
    request: dict[str, Any],
    *,
    existing: ExistingName = ExistingName.RETURN_IT,
) -> dict[str, Any]:
    settings = _settings(request)
    with ctx.db.session(write=True) as session:
        environment, created = environments.create_environment(
            session,
            ctx.arns,
            name=request["name"],
            template_name=request["templateName"],
            major=request["templateMajorVersion"],
            minor=request.get("templateMinorVersion"),
            spec=request["spec"],
            settings=settings,
            now=ctx.now,
        )
        refuse_unless_created(existing, created, f"environment '{environment.name}'")
        if created and request.get("tags"):
            set_tags(session, ctx.arns.environment(environment.name), request["tags"])
        result = {"environment": views.environment(ctx.arns, environment)}
    ctx.jobs_enqueued()
    return result


def needs_service_role(template: Template) -> bool:
    """Whether creating an environment from ``template`` needs a protonServiceRoleArn (the
    domain's rule, check_provisioning_identity), for a form to mark the field required."""
    return template.provisioning != proton.Provisioning.CUSTOMER_MANAGED


@proton_operation("GetEnvironment")
def get_environment(
    ctx: RequestContext, request: proton.GetEnvironmentInput
) -> proton.GetEnvironmentOutput:
    with ctx.db.session() as session:
        environment = environments.find_environment(session, request["name"])
        return {"environment": views.environment(ctx.arns, environment)}


@proton_operation("UpdateEnvironment")
def update_environment(
    ctx: RequestContext, request: proton.UpdateEnvironmentInput
) -> proton.UpdateEnvironmentOutput:
    with ctx.db.session(write=True) as session:
        environment = environments.update_environment(
            session,
            ctx.arns,
            name=request["name"],
            deployment_type=request["deploymentType"],
            spec=request.get("spec"),
            major=request.get("templateMajorVersion"),
            minor=request.get("templateMinorVersion"),
            settings=_settings(request),
            now=ctx.now,
        )
        result: proton.UpdateEnvironmentOutput = {
            "environment": views.environment(ctx.arns, environment)
        }
    ctx.jobs_enqueued()
    return result


@proton_operation("DeleteEnvironment")
def delete_environment(
    ctx: RequestContext, request: proton.DeleteEnvironmentInput
) -> proton.DeleteEnvironmentOutput:
    with ctx.db.session(write=True) as session:
        refuse_if_protected(session, ctx, ProtectedKind.ENVIRONMENT, request["name"])
        environment = environments.delete_environment(session, ctx.arns, request["name"], ctx.now)
        result: proton.DeleteEnvironmentOutput = {
            "environment": views.environment(ctx.arns, environment)
        }
    ctx.jobs_enqueued()
    return result


@proton_operation("ListEnvironments")
def list_environments(
    ctx: RequestContext, request: proton.ListEnvironmentsInput
) -> proton.ListEnvironmentsOutput:
    filters = request.get("environmentTemplates") or []
    with ctx.db.session() as session:
        stmt = select(Environment)
        if filters:
            stmt = stmt.where(
                or_(
                    *(
                        and_(
                            Environment.template_name == f["templateName"],
                            Environment.template_major == int(f["majorVersion"]),
                        )
                        for f in filters
                    )
                )
            )
        rows, next_token = ctx.page(
            session, stmt, [Environment.name], request, scope={"environmentTemplates": filters}
        )
        return {
            "environments": [views.environment_summary(ctx.arns, row[0]) for row in rows],
            "nextToken": next_token,
        }


@proton_operation("CancelEnvironmentDeployment")
def cancel_environment_deployment(
    ctx: RequestContext, request: proton.CancelEnvironmentDeploymentInput
) -> proton.CancelEnvironmentDeploymentOutput:
    with ctx.db.session(write=True) as session:
        environment = environments.find_environment(session, request["environmentName"], lock=True)
        deployments.request_cancel(session, environment, environments.label(environment), ctx.now)
        result: proton.CancelEnvironmentDeploymentOutput = {
            "environment": views.environment(ctx.arns, environment)
        }
    ctx.jobs_enqueued()
    return result


@proton_operation("ListEnvironmentOutputs")
def list_environment_outputs(
    ctx: RequestContext, request: proton.ListEnvironmentOutputsInput
) -> proton.ListEnvironmentOutputsOutput:
    with ctx.db.session() as session:
        environment = environments.find_environment(session, request["environmentName"])
        return {
            "outputs": resource_outputs.outputs(
                session,
                ctx.arns.environment(environment.name),
                environment,
                request.get("deploymentId"),
            )
        }


@proton_operation("ListEnvironmentProvisionedResources")
def list_environment_provisioned_resources(
    ctx: RequestContext, request: proton.ListEnvironmentProvisionedResourcesInput
) -> proton.ListEnvironmentProvisionedResourcesOutput:
    with ctx.db.session() as session:
        environment = environments.find_environment(session, request["environmentName"])
        return {
            "provisionedResources": resource_outputs.provisioned_resources(
                session, ctx.arns.environment(environment.name)
            )
        }
