"""Rows to API results. Each function builds one modeled shape, typed by the shape generated
from the model (baryon.service_models.proton); the serializer drops nothing but unset (None)
members, so what is returned here is exactly what clients see.

Stored statuses become the model's StrEnums here, so a value the model does not know fails
loudly on the way out instead of reaching a client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypedDict, cast

from baryon.domain.arns import Arns
from baryon.domain.template_versions import version_arn
from baryon.domain.templates import template_arn
from baryon.service_models import proton
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


class _TemplateMembers(TypedDict):
    """The members both kinds of template (and their summaries) share."""

    arn: str
    name: str
    displayName: str | None
    description: str | None
    recommendedVersion: str | None
    createdAt: datetime
    lastModifiedAt: datetime


class _DeployableMembers(TypedDict):
    """The members environments, instances and pipelines share."""

    deploymentStatus: proton.DeploymentStatus
    deploymentStatusMessage: str | None
    lastAttemptedDeploymentId: str | None
    lastSucceededDeploymentId: str | None
    lastDeploymentAttemptedAt: datetime
    lastDeploymentSucceededAt: datetime
    templateMajorVersion: str
    templateMinorVersion: str
    createdAt: datetime


def _provisioning(value: str | None) -> proton.Provisioning | None:
    return None if value is None else proton.Provisioning(value)


def _template_members(arns: Arns, row: Template, recommended: str | None) -> _TemplateMembers:
    return {
        "arn": template_arn(arns, row),
        "name": row.name,
        "displayName": row.display_name,
        "description": row.description,
        "recommendedVersion": recommended,
        "createdAt": row.created_at,
        "lastModifiedAt": row.last_modified_at,
    }


# The two kinds of template share one row type; their results differ in one member's name
# (provisioning / pipelineProvisioning), and a service template's version has members an
# environment template's has not. Each kind has its own function, typed by its own shape.


def environment_template(
    arns: Arns, row: Template, recommended: str | None
) -> proton.EnvironmentTemplate:
    return {
        **_template_members(arns, row, recommended),
        "provisioning": _provisioning(row.provisioning),
        "encryptionKey": row.encryption_key,
    }


def service_template(arns: Arns, row: Template, recommended: str | None) -> proton.ServiceTemplate:
    return {
        **_template_members(arns, row, recommended),
        "pipelineProvisioning": _provisioning(row.provisioning),
        "encryptionKey": row.encryption_key,
    }


def environment_template_summary(
    arns: Arns, row: Template, recommended: str | None
) -> proton.EnvironmentTemplateSummary:
    return {
        **_template_members(arns, row, recommended),
        "provisioning": _provisioning(row.provisioning),
    }


def service_template_summary(
    arns: Arns, row: Template, recommended: str | None
) -> proton.ServiceTemplateSummary:
    return {
        **_template_members(arns, row, recommended),
        "pipelineProvisioning": _provisioning(row.provisioning),
    }


def environment_template_version_summary(
    arns: Arns, template_row: Template, row: TemplateVersion, recommended_minor: int | None
) -> proton.EnvironmentTemplateVersionSummary:
    return {
        "arn": version_arn(arns, template_row, row),
        "templateName": template_row.name,
        "majorVersion": str(row.major),
        "minorVersion": str(row.minor),
        "recommendedMinorVersion": None if recommended_minor is None else str(recommended_minor),
        "status": proton.TemplateVersionStatus(row.status),
        "statusMessage": row.status_message,
        "description": row.description,
        "createdAt": row.created_at,
        "lastModifiedAt": row.last_modified_at,
    }


def service_template_version_summary(
    arns: Arns, template_row: Template, row: TemplateVersion, recommended_minor: int | None
) -> proton.ServiceTemplateVersionSummary:
    # Both kinds' summaries have the same members.
    return {**environment_template_version_summary(arns, template_row, row, recommended_minor)}


def environment_template_version(
    arns: Arns, template_row: Template, row: TemplateVersion, recommended_minor: int | None
) -> proton.EnvironmentTemplateVersion:
    return {
        **environment_template_version_summary(arns, template_row, row, recommended_minor),
        "schema": row.schema_text,
    }


def service_template_version(
    arns: Arns, template_row: Template, row: TemplateVersion, recommended_minor: int | None
) -> proton.ServiceTemplateVersion:
    sources = row.supported_component_sources
    return {
        **service_template_version_summary(arns, template_row, row, recommended_minor),
        "schema": row.schema_text,
        "compatibleEnvironmentTemplates": [
            {"templateName": entry["templateName"], "majorVersion": entry["majorVersion"]}
            for entry in row.compatible_environment_templates or []
        ],
        "supportedComponentSources": None
        if sources is None
        else [proton.ServiceTemplateSupportedComponentSourceType(source) for source in sources],
    }


class InstanceSummaryRow(Protocol):
    """What a service instance summary reads: a ServiceInstance, or a row of just these
    columns (ListServiceInstances selects no more)."""

    @property
    def name(self) -> str: ...
    @property
    def service_name(self) -> str: ...
    @property
    def environment_name(self) -> str: ...
    @property
    def template_name(self) -> str: ...
    @property
    def template_major(self) -> int: ...
    @property
    def template_minor(self) -> int: ...
    @property
    def deployment_status(self) -> str: ...
    @property
    def deployment_status_message(self) -> str | None: ...
    @property
    def last_attempted_deployment_id(self) -> str | None: ...
    @property
    def last_succeeded_deployment_id(self) -> str | None: ...
    @property
    def last_deployment_attempted_at(self) -> datetime: ...
    @property
    def last_deployment_succeeded_at(self) -> datetime: ...
    @property
    def created_at(self) -> datetime: ...


class InstanceRow(InstanceSummaryRow, Protocol):
    """What a service instance's view reads: a ServiceInstance, or a row of the summary's
    columns with the spec's text and the last client token (domain/instance_reads.py)."""

    @property
    def spec(self) -> str | None: ...
    @property
    def last_client_request_token(self) -> str | None: ...


def _deployable(
    row: Environment | ServicePipeline | ServiceInstance | InstanceSummaryRow,
) -> _DeployableMembers:
    return {
        "deploymentStatus": proton.DeploymentStatus(row.deployment_status),
        "deploymentStatusMessage": row.deployment_status_message,
        "lastAttemptedDeploymentId": row.last_attempted_deployment_id,
        "lastSucceededDeploymentId": row.last_succeeded_deployment_id,
        "lastDeploymentAttemptedAt": row.last_deployment_attempted_at,
        "lastDeploymentSucceededAt": row.last_deployment_succeeded_at,
        "templateMajorVersion": str(row.template_major),
        "templateMinorVersion": str(row.template_minor),
        "createdAt": row.created_at,
    }


def _repository(arns: Arns, stored: dict[str, Any] | None) -> proton.RepositoryBranch | None:
    if not stored:
        return None
    return {
        "arn": arns.repository(stored["provider"], stored["name"]),
        "provider": proton.RepositoryProvider(stored["provider"]),
        "name": stored["name"],
        "branch": stored["branch"],
    }


def environment(arns: Arns, row: Environment) -> proton.Environment:
    return {
        **_deployable(row),
        "arn": arns.environment(row.name),
        "name": row.name,
        "templateName": row.template_name,
        "description": row.description,
        "spec": row.spec,
        "provisioning": _provisioning(row.provisioning),
        "protonServiceRoleArn": row.proton_service_role_arn,
        "codebuildRoleArn": row.codebuild_role_arn,
        "componentRoleArn": row.component_role_arn,
        "environmentAccountConnectionId": row.environment_account_connection_id,
        "environmentAccountId": row.environment_account_id,
        "provisioningRepository": _repository(arns, row.provisioning_repository),
    }


def environment_summary(arns: Arns, row: Environment) -> proton.EnvironmentSummary:
    return {
        **_deployable(row),
        "arn": arns.environment(row.name),
        "name": row.name,
        "templateName": row.template_name,
        "description": row.description,
        "provisioning": _provisioning(row.provisioning),
        "protonServiceRoleArn": row.proton_service_role_arn,
        "componentRoleArn": row.component_role_arn,
        "environmentAccountConnectionId": row.environment_account_connection_id,
        "environmentAccountId": row.environment_account_id,
    }


def service(arns: Arns, row: Service, pipeline: ServicePipeline | None) -> proton.Service:
    return {
        **service_summary(arns, row),
        "spec": row.spec,
        "repositoryConnectionArn": row.repository_connection_arn,
        "repositoryId": row.repository_id,
        "branchName": row.branch_name,
        "pipeline": None if pipeline is None else service_pipeline(arns, row, pipeline),
    }


def service_summary(arns: Arns, row: Service) -> proton.ServiceSummary:
    return {
        "arn": arns.service(row.name),
        "name": row.name,
        "templateName": row.template_name,
        "description": row.description,
        "status": proton.ServiceStatus(row.status),
        "statusMessage": row.status_message,
        "createdAt": row.created_at,
        "lastModifiedAt": row.last_modified_at,
    }


def service_pipeline(
    arns: Arns, service_row: Service, row: ServicePipeline
) -> proton.ServicePipeline:
    return {
        **_deployable(row),
        "arn": arns.service_pipeline(service_row.name),
        "templateName": service_row.template_name,
        "spec": row.spec,
    }


def service_instance(arns: Arns, row: ServiceInstance | InstanceRow) -> proton.ServiceInstance:
    return {
        **service_instance_summary(arns, row),
        "spec": row.spec,
        "lastClientRequestToken": row.last_client_request_token,
    }


def service_instance_summary(
    arns: Arns, row: ServiceInstance | InstanceSummaryRow
) -> proton.ServiceInstanceSummary:
    return {
        **_deployable(row),
        "arn": arns.service_instance(row.service_name, row.name),
        "name": row.name,
        "serviceName": row.service_name,
        "environmentName": row.environment_name,
        "templateName": row.template_name,
    }


def deployment_summary(arns: Arns, row: Deployment) -> proton.DeploymentSummary:
    return {
        "arn": arns.deployment(row.id),
        "id": row.id,
        "targetArn": row.target_arn,
        "targetResourceType": proton.DeploymentTargetResourceType(row.target_type),
        "targetResourceCreatedAt": row.target_resource_created_at,
        "deploymentStatus": proton.DeploymentStatus(row.status),
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


def _state(stored: dict[str, Any] | None) -> proton.DeploymentState | None:
    # Recorded in the wire form of proton.DeploymentState when the deployment was made.
    return cast(proton.DeploymentState, stored) if stored else None


def deployment(arns: Arns, row: Deployment) -> proton.Deployment:
    return {
        **deployment_summary(arns, row),
        "deploymentStatusMessage": row.status_message,
        "initialState": _state(row.initial_state),
        "targetState": _state(row.target_state),
    }


def component_summary(arns: Arns, row: Component) -> proton.ComponentSummary:
    return {
        "arn": arns.component(row.name),
        "name": row.name,
        "environmentName": row.environment_name,
        "serviceName": row.service_name,
        "serviceInstanceName": row.service_instance_name,
        "deploymentStatus": proton.DeploymentStatus(row.deployment_status),
        "deploymentStatusMessage": row.deployment_status_message,
        "lastAttemptedDeploymentId": row.last_attempted_deployment_id,
        "lastSucceededDeploymentId": row.last_succeeded_deployment_id,
        "lastDeploymentAttemptedAt": row.last_deployment_attempted_at,
        "lastDeploymentSucceededAt": row.last_deployment_succeeded_at,
        "createdAt": row.created_at,
        "lastModifiedAt": row.last_modified_at,
    }


def component(arns: Arns, row: Component) -> proton.Component:
    return {
        **component_summary(arns, row),
        "description": row.description,
        "serviceSpec": row.service_spec,
        "lastClientRequestToken": row.last_client_request_token,
    }
