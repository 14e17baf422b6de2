"""Rows to API dicts. Each function builds one modeled shape; the serializer drops nothing
but unset members, so what is returned here is exactly what clients see."""

from __future__ import annotations

from typing import Any

from baryon.domain.arns import Arns
from baryon.domain.template_versions import version_arn
from baryon.domain.templates import TemplateKind, template_arn
from baryon.store.tables import (
    Component,
    Deployment,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
    TemplateVersion,
)


def template(arns: Arns, row: Template, recommended: str | None) -> dict[str, Any]:
    view = template_summary(arns, row, recommended)
    view["encryptionKey"] = row.encryption_key
    return view


def template_summary(arns: Arns, row: Template, recommended: str | None) -> dict[str, Any]:
    provisioning_member = (
        "provisioning" if row.kind == TemplateKind.ENVIRONMENT.value else "pipelineProvisioning"
    )
    return {
        "arn": template_arn(arns, row),
        "name": row.name,
        "displayName": row.display_name,
        "description": row.description,
        provisioning_member: row.provisioning,
        "recommendedVersion": recommended,
        "createdAt": row.created_at,
        "lastModifiedAt": row.last_modified_at,
    }


def version_summary(
    arns: Arns, template_row: Template, row: TemplateVersion, recommended_minor: int | None
) -> dict[str, Any]:
    return {
        "arn": version_arn(arns, template_row, row),
        "templateName": template_row.name,
        "majorVersion": str(row.major),
        "minorVersion": str(row.minor),
        "recommendedMinorVersion": None if recommended_minor is None else str(recommended_minor),
        "status": row.status,
        "statusMessage": row.status_message,
        "description": row.description,
        "createdAt": row.created_at,
        "lastModifiedAt": row.last_modified_at,
    }


def version(
    arns: Arns, template_row: Template, row: TemplateVersion, recommended_minor: int | None
) -> dict[str, Any]:
    view = version_summary(arns, template_row, row, recommended_minor)
    view["schema"] = row.schema_text
    if template_row.kind == TemplateKind.SERVICE.value:
        view["compatibleEnvironmentTemplates"] = row.compatible_environment_templates or []
        view["supportedComponentSources"] = row.supported_component_sources
    return view


def _deployable(row: Any) -> dict[str, Any]:
    """The members environments, instances and pipelines share."""
    return {
        "deploymentStatus": row.deployment_status,
        "deploymentStatusMessage": row.deployment_status_message,
        "lastAttemptedDeploymentId": row.last_attempted_deployment_id,
        "lastSucceededDeploymentId": row.last_succeeded_deployment_id,
        "lastDeploymentAttemptedAt": row.last_deployment_attempted_at,
        "lastDeploymentSucceededAt": row.last_deployment_succeeded_at,
        "templateMajorVersion": str(row.template_major),
        "templateMinorVersion": str(row.template_minor),
        "createdAt": row.created_at,
    }


def environment(arns: Arns, row: Environment) -> dict[str, Any]:
    repository = row.provisioning_repository
    return {
        **_deployable(row),
        "arn": arns.environment(row.name),
        "name": row.name,
        "templateName": row.template_name,
        "description": row.description,
        "spec": row.spec,
        "provisioning": row.provisioning,
        "protonServiceRoleArn": row.proton_service_role_arn,
        "codebuildRoleArn": row.codebuild_role_arn,
        "componentRoleArn": row.component_role_arn,
        "environmentAccountConnectionId": row.environment_account_connection_id,
        "environmentAccountId": row.environment_account_id,
        "provisioningRepository": None
        if not repository
        else {"arn": arns.repository(repository["provider"], repository["name"]), **repository},
    }


def environment_summary(arns: Arns, row: Environment) -> dict[str, Any]:
    view = environment(arns, row)
    for member in ("spec", "codebuildRoleArn", "provisioningRepository"):
        view.pop(member)
    return view


def service(arns: Arns, row: Service, pipeline: ServicePipeline | None) -> dict[str, Any]:
    return {
        **service_summary(arns, row),
        "spec": row.spec,
        "repositoryConnectionArn": row.repository_connection_arn,
        "repositoryId": row.repository_id,
        "branchName": row.branch_name,
        "pipeline": None if pipeline is None else service_pipeline(arns, row, pipeline),
    }


def service_summary(arns: Arns, row: Service) -> dict[str, Any]:
    return {
        "arn": arns.service(row.name),
        "name": row.name,
        "templateName": row.template_name,
        "description": row.description,
        "status": row.status,
        "statusMessage": row.status_message,
        "createdAt": row.created_at,
        "lastModifiedAt": row.last_modified_at,
    }


def service_pipeline(arns: Arns, service_row: Service, row: ServicePipeline) -> dict[str, Any]:
    return {
        **_deployable(row),
        "arn": arns.service_pipeline(service_row.name),
        "templateName": service_row.template_name,
        "spec": row.spec,
    }


def service_instance(arns: Arns, row: ServiceInstance) -> dict[str, Any]:
    return {
        **service_instance_summary(arns, row),
        "spec": row.spec,
        "lastClientRequestToken": row.last_client_request_token,
    }


def service_instance_summary(arns: Arns, row: ServiceInstance) -> dict[str, Any]:
    return {
        **_deployable(row),
        "arn": arns.service_instance(row.service_name, row.name),
        "name": row.name,
        "serviceName": row.service_name,
        "environmentName": row.environment_name,
        "templateName": row.template_name,
    }


def deployment_summary(arns: Arns, row: Deployment) -> dict[str, Any]:
    return {
        "arn": arns.deployment(row.id),
        "id": row.id,
        "targetArn": row.target_arn,
        "targetResourceType": row.target_type,
        "targetResourceCreatedAt": row.target_resource_created_at,
        "deploymentStatus": row.status,
        "environmentName": row.environment_name,
        "serviceName": row.service_name,
        "serviceInstanceName": row.service_instance_name,
        "componentName": row.component_name,
        "lastAttemptedDeploymentId": row.last_attempted_deployment_id,
        "lastSucceededDeploymentId": row.last_succeeded_deployment_id,
        "createdAt": row.created_at,
        "lastModifiedAt": row.last_modified_at,
        "completedAt": row.completed_at,
    }


def deployment(arns: Arns, row: Deployment) -> dict[str, Any]:
    return {
        **deployment_summary(arns, row),
        "deploymentStatusMessage": row.status_message,
        "initialState": row.initial_state or None,
        "targetState": row.target_state or None,
    }


def component_summary(arns: Arns, row: Component) -> dict[str, Any]:
    return {
        "arn": arns.component(row.name),
        "name": row.name,
        "environmentName": row.environment_name,
        "serviceName": row.service_name,
        "serviceInstanceName": row.service_instance_name,
        "deploymentStatus": row.deployment_status,
        "deploymentStatusMessage": row.deployment_status_message,
        "lastAttemptedDeploymentId": row.last_attempted_deployment_id,
        "lastSucceededDeploymentId": row.last_succeeded_deployment_id,
        "lastDeploymentAttemptedAt": row.last_deployment_attempted_at,
        "lastDeploymentSucceededAt": row.last_deployment_succeeded_at,
        "createdAt": row.created_at,
        "lastModifiedAt": row.last_modified_at,
    }


def component(arns: Arns, row: Component) -> dict[str, Any]:
    return {
        **component_summary(arns, row),
        "description": row.description,
        "serviceSpec": row.service_spec,
        "lastClientRequestToken": row.last_client_request_token,
    }
