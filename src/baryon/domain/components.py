"""Directly defined components: IaC that developers supply inline, next to a service instance.

A component deploys in an environment with that environment's component role, optionally
attached to one service instance; the instance's templates then read its outputs as
``service_instance.components.default.outputs``. Only service template versions that list
DIRECTLY_DEFINED in supportedComponentSources accept them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baryon.bundles.errors import BundleError
from baryon.bundles.manifest import parse_manifest
from baryon.domain import deployments, services
from baryon.domain.arns import Arns
from baryon.domain.deployments import DeploymentOperation, Target
from baryon.domain.environment_account_connections import deploying_roles
from baryon.domain.environments import find_environment
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.domain.plan import ComponentPlan, DeletePlan
from baryon.service_models.proton import (
    ComponentDeploymentUpdateType,
    DeploymentStatus,
    DeploymentTargetResourceType,
    ServiceTemplateSupportedComponentSourceType,
)
from baryon.store.tables import Component, Environment, ServiceInstance, Tag, TemplateVersion


def find_component(session: Session, name: str, *, lock: bool = False) -> Component:
    stmt = select(Component).where(Component.name == name)
    component = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if component is None:
        raise NotFound(f"The component '{name}' was not found.")
    return component


def attached_to(session: Session, instance: ServiceInstance) -> Component | None:
    return session.scalars(
        select(Component).where(
            Component.service_name == instance.service_name,
            Component.service_instance_name == instance.name,
        )
    ).first()


def label(component: Component) -> str:
    return f"Component '{component.name}'"


def target(arns: Arns, component: Component) -> Target:
    return Target(
        DeploymentTargetResourceType.COMPONENT,
        arns.component(component.name),
        component.environment_name,
        service_name=component.service_name,
        service_instance_name=component.service_instance_name,
        component_name=component.name,
    )


def state(
    service_name: str | None, instance_name: str | None, spec: str | None, template_file: str
) -> dict[str, Any]:
    return {
        "component": {
            "serviceName": service_name,
            "serviceInstanceName": instance_name,
            "serviceSpec": spec,
            "templateFile": template_file,
        }
    }


def deployed_state(component: Component) -> dict[str, Any]:
    return state(
        component.service_name,
        component.service_instance_name,
        component.service_spec,
        component.template_file,
    )


def check_manifest(manifest: str) -> None:
    """Components take one CloudFormation or Terraform file, never CodeBuild."""
    try:
        parse_manifest(manifest, "manifest", component=True)
    except BundleError as exc:
        raise InvalidInput.at(("manifest",), str(exc)) from exc


def _attachment(
    session: Session,
    service_name: str | None,
    instance_name: str | None,
    environment_name: str | None,
) -> tuple[Environment, ServiceInstance | None]:
    if bool(service_name) != bool(instance_name):
        raise InvalidInput(
            "serviceName and serviceInstanceName go together: name both to attach the "
            "component to a service instance, or neither."
        )
    if not service_name:
        if not environment_name:
            raise InvalidInput(
                "A component needs an environment: give environmentName, or attach it with "
                "serviceName and serviceInstanceName."
            )
        return find_environment(session, environment_name), None
    instance = services.find_instance(session, service_name, instance_name or "")
    environment = session.get(Environment, instance.environment_id)
    assert environment is not None
    if environment_name and environment_name != environment.name:
        raise InvalidInput(
            f"environmentName '{environment_name}' is not the environment of service instance "
            f"'{instance.name}' ('{environment.name}')."
        )
    version = session.scalars(
        select(TemplateVersion).where(
            TemplateVersion.template_id == instance.template_id,
            TemplateVersion.major == instance.template_major,
            TemplateVersion.minor == instance.template_minor,
        )
    ).first()
    if version is None or ServiceTemplateSupportedComponentSourceType.DIRECTLY_DEFINED not in (
        version.supported_component_sources or []
    ):
        raise InvalidInput(
            f"Service instance '{instance.name}' runs service template version "
            f"{instance.template_major}.{instance.template_minor}, which does not support "
            "directly defined components (supportedComponentSources)."
        )
    return environment, instance


def _check_environment(session: Session, environment: Environment) -> None:
    # An environment in an environment account deploys components as its connection's
    # componentRoleArn (Proton), not its own.
    if not deploying_roles(session, environment).component_role_arn:
        raise InvalidInput(
            f"Environment '{environment.name}' has no componentRoleArn; set one with "
            "UpdateEnvironment before deploying components in it."
        )


def create_component(
    session: Session,
    arns: Arns,
    *,
    name: str,
    manifest: str,
    template_file: str,
    environment_name: str | None,
    service_name: str | None,
    instance_name: str | None,
    service_spec: str | None,
    description: str | None,
    client_token: str | None,
    now: datetime,
) -> Component:
    check_manifest(manifest)
    environment, instance = _attachment(session, service_name, instance_name, environment_name)
    _check_environment(session, environment)
    if instance is not None and attached_to(session, instance) is not None:
        raise Conflict(f"Service instance '{instance.name}' already has a component attached.")
    component = Component(
        name=name,
        description=description,
        environment_id=environment.id,
        environment_name=environment.name,
        service_name=service_name or None,
        service_instance_name=instance_name or None,
        manifest=manifest,
        template_file=template_file,
        service_spec=service_spec,
        last_client_request_token=client_token,
        **deployments.initial_columns(now),
    )
    session.add(component)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"The component '{name}' already exists.", field=("name",)) from exc
    deployments.start(
        session,
        component,
        target(arns, component),
        operation=DeploymentOperation.DEPLOY,
        initial_state=None,
        target_state=state(
            component.service_name, component.service_instance_name, service_spec, template_file
        ),
        plan=_plan(manifest, template_file, service_spec, component),
        now=now,
    )
    return component


def _plan(
    manifest: str, template_file: str, service_spec: str | None, component: Component
) -> ComponentPlan:
    return ComponentPlan(
        manifest,
        template_file,
        service_spec,
        component.service_name,
        component.service_instance_name,
    )


def update_component(
    session: Session,
    arns: Arns,
    *,
    name: str,
    deployment_type: ComponentDeploymentUpdateType,
    description: str | None,
    service_name: str | None,
    instance_name: str | None,
    service_spec: str | None,
    template_file: str | None,
    client_token: str | None,
    now: datetime,
) -> Component:
    component = find_component(session, name, lock=True)
    deployments.ensure_idle(component, label(component))
    if description is not None:
        component.description = description
    if client_token:
        component.last_client_request_token = client_token
    component.last_modified_at = now
    changes_deployment = any(
        v is not None for v in (service_name, instance_name, service_spec, template_file)
    )
    if deployment_type == ComponentDeploymentUpdateType.NONE:
        if changes_deployment:
            raise InvalidInput(
                "deploymentType NONE changes the description only; use CURRENT_VERSION to "
                "change the template file, the spec or the attachment."
            )
        return component
    # An empty serviceName/serviceInstanceName (ResourceNameOrEmpty) detaches the component.
    new_service = component.service_name if service_name is None else service_name or None
    new_instance = (
        component.service_instance_name if instance_name is None else instance_name or None
    )
    if (new_service, new_instance) != (component.service_name, component.service_instance_name):
        environment, instance = _attachment(
            session, new_service, new_instance, component.environment_name
        )
        if environment.id != component.environment_id:
            raise InvalidInput("A component cannot move to another environment.")
        if instance is not None and attached_to(session, instance) is not None:
            raise Conflict(f"Service instance '{instance.name}' already has a component attached.")
    body = component.template_file if template_file is None else template_file
    spec = component.service_spec if service_spec is None else service_spec
    plan = ComponentPlan(component.manifest, body, spec, new_service, new_instance)
    deployments.start(
        session,
        component,
        target(arns, component),
        operation=DeploymentOperation.DEPLOY,
        initial_state=deployed_state(component),
        target_state=state(new_service, new_instance, spec, body),
        plan=plan,
        now=now,
    )
    return component


def delete_component(session: Session, arns: Arns, name: str, now: datetime) -> Component:
    component = find_component(session, name, lock=True)
    if component.deployment_status == DeploymentStatus.DELETE_IN_PROGRESS:
        return component
    if component.service_instance_name:
        # Proton: the instance's templates read the component's outputs, so it goes only once
        # detached (UpdateComponent with empty serviceName and serviceInstanceName).
        raise InvalidInput(
            f"The component '{name}' is attached to service instance "
            f"'{component.service_name}/{component.service_instance_name}'; detach it first "
            "(UpdateComponent with serviceName and serviceInstanceName set to ''), check that "
            "the instance still works, then delete the component."
        )
    deployments.ensure_idle(component, label(component))
    deployments.start(
        session,
        component,
        target(arns, component),
        operation=DeploymentOperation.DELETE,
        initial_state=deployed_state(component),
        target_state=None,
        plan=DeletePlan(),
        now=now,
    )
    return component


def remove_component(session: Session, arns: Arns, component: Component) -> None:
    arn = arns.component(component.name)
    session.execute(delete(Tag).where(Tag.resource_arn == arn))
    deployments.forget_resource(session, arn)
    session.delete(component)
