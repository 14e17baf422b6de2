"""Recording how a deployment ended, on the deployment and on its resource, in one transaction."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.orm import Session

from baryon.domain import components, deployments, environments, rollouts, services
from baryon.domain.arns import Arns
from baryon.domain.deployments import Deployable, DeploymentOperation, Provisioned
from baryon.domain.plan import ComponentPlan, RecoveryPlan, TemplatePlan
from baryon.domain.recovery_hints import recovery_hint
from baryon.service_models.proton import DeploymentStatus, DeploymentTargetResourceType
from baryon.store.tables import (
    Component,
    Deployment,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Tag,
    TemplateVersion,
)


@dataclass(frozen=True)
class Result:
    status: DeploymentStatus  # SUCCEEDED | FAILED | CANCELLED
    message: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    resources: list[Provisioned] = field(default_factory=list)
    # The engine's rollback failed too: the resource waits for ContinueUpdateRollback.
    rollback_failed: bool = False


def resource_of(
    session: Session, deployment: Deployment, *, lock: bool = False
) -> Deployable | None:
    """The resource a deployment targets, or None if it is gone."""
    stmt = _target_of(deployment.target_type, lock)
    if stmt is None:
        return None
    params = {
        "environment": deployment.environment_name,
        "service": deployment.service_name,
        "instance": deployment.service_instance_name,
        "component": deployment.component_name,
    }
    return session.scalars(stmt, params).first()


# Built once per kind (building a select and its cache key costs more than running it: the
# worker reads a deployment's target twice per deployment, issue 17).
@functools.cache
def _target_of(target_type: str, lock: bool) -> Select[Any] | None:
    stmt: Select[Any]
    if target_type == DeploymentTargetResourceType.ENVIRONMENT:
        stmt = select(Environment).where(Environment.name == bindparam("environment"))
    elif target_type == DeploymentTargetResourceType.SERVICE_INSTANCE:
        stmt = select(ServiceInstance).where(
            ServiceInstance.service_name == bindparam("service"),
            ServiceInstance.name == bindparam("instance"),
        )
    elif target_type == DeploymentTargetResourceType.SERVICE_PIPELINE:
        stmt = (
            select(ServicePipeline)
            .join(Service, Service.id == ServicePipeline.service_id)
            .where(Service.name == bindparam("service"))
        )
    elif target_type == DeploymentTargetResourceType.COMPONENT:
        stmt = select(Component).where(Component.name == bindparam("component"))
    else:
        return None
    return stmt.with_for_update() if lock else stmt


def record(session: Session, arns: Arns, deployment_id: str, result: Result, now: datetime) -> None:
    deployment = session.get(Deployment, deployment_id, with_for_update=True)
    if deployment is None or deployment.status in deployments.TERMINAL:
        return  # recorded already (a retried job), or the deployment was deleted
    resource = resource_of(session, deployment, lock=True)
    if resource is None or resource.last_attempted_deployment_id != deployment.id:
        _end(
            deployment,
            DeploymentStatus.FAILED,
            "The target resource no longer exists or moved on.",
            now,
        )
        # It may still be one of a service operation's deployments: let that finish too.
        services.after_deployment(session, arns, deployment, now)
        rollouts.wake_for(session, deployment.id, now)
        return
    if deployment.operation == DeploymentOperation.DELETE:
        _record_delete(session, arns, deployment, resource, result, now)
    else:
        _record_deploy(session, deployment, resource, result, now)
    services.after_deployment(session, arns, deployment, now)
    rollouts.wake_for(session, deployment.id, now)


def _deployed_version(
    session: Session, deployment: Deployment, plan: TemplatePlan
) -> tuple[int, int]:
    """The version a deployment deployed, as its target state names it (written with the plan
    from the same version row): no read of the version, which may be gone by now anyway. A
    deployment recorded without one reads the version."""
    target: dict[str, Any] = next(iter((deployment.target_state_document or {}).values()), {})
    if "templateMajorVersion" in target and "templateMinorVersion" in target:
        return int(target["templateMajorVersion"]), int(target["templateMinorVersion"])
    version = session.get_one(TemplateVersion, plan.template_version_id)
    return version.major, version.minor


def _end(
    deployment: Deployment, status: DeploymentStatus, message: str | None, now: datetime
) -> None:
    deployment.status = status
    deployment.status_message = message
    deployment.completed_at = now
    deployment.last_modified_at = now


def _record_deploy(
    session: Session, deployment: Deployment, resource: Deployable, result: Result, now: datetime
) -> None:
    if result.status != DeploymentStatus.SUCCEEDED:
        status = (
            DeploymentStatus.CANCELLED
            if result.status == DeploymentStatus.CANCELLED
            else DeploymentStatus.FAILED
        )
        message = result.message
        if result.rollback_failed:
            deployment.rollback_failed = True
            message = f"{message or 'The rollback failed.'} {recovery_hint(deployment)}"
        _end(deployment, status, message, now)
        resource.deployment_status = status
        resource.deployment_status_message = message
        resource.last_modified_at = now
        return
    plan = deployments.plan_of(deployment)
    if isinstance(plan, RecoveryPlan):
        _record_recovery(session, deployment, resource, result, now)
        return
    if isinstance(resource, Component):
        assert isinstance(plan, ComponentPlan)
        _adopt_component_plan(resource, plan)
    else:
        assert isinstance(plan, TemplatePlan)
        resource.template_major, resource.template_minor = _deployed_version(
            session, deployment, plan
        )
        resource.spec = plan.spec
        resource.inputs = dict(plan.inputs)
    resource.deployment_status = DeploymentStatus.SUCCEEDED
    resource.deployment_status_message = result.message
    resource.last_succeeded_deployment_id = deployment.id
    resource.last_deployment_succeeded_at = now
    resource.last_modified_at = now
    _end(deployment, DeploymentStatus.SUCCEEDED, result.message, now)
    deployments.store_outputs(session, deployment.id, result.outputs)
    deployments.replace_provisioned_resources(session, deployment.target_arn, result.resources)


def _record_recovery(
    session: Session, deployment: Deployment, resource: Deployable, result: Result, now: datetime
) -> None:
    """The rollback finished: the resource runs what its last successful deployment left
    (its version, spec and outputs stay that deployment's), with what stands now."""
    message = result.message or (
        "The rollback was continued: the resource is back at its last successful deployment."
    )
    resource.deployment_status = DeploymentStatus.SUCCEEDED
    resource.deployment_status_message = message
    resource.last_modified_at = now
    _end(deployment, DeploymentStatus.SUCCEEDED, message, now)
    deployments.replace_provisioned_resources(session, deployment.target_arn, result.resources)


def _adopt_component_plan(component: Component, plan: ComponentPlan) -> None:
    """A component's deployed state is its inline IaC and where it is attached."""
    component.template_file = plan.template_file
    component.service_spec = plan.service_spec
    component.service_name = plan.service_name
    component.service_instance_name = plan.service_instance_name


def _record_delete(
    session: Session,
    arns: Arns,
    deployment: Deployment,
    resource: Deployable,
    result: Result,
    now: datetime,
) -> None:
    if result.status != DeploymentStatus.SUCCEEDED:
        _end(deployment, DeploymentStatus.DELETE_FAILED, result.message, now)
        resource.deployment_status = DeploymentStatus.DELETE_FAILED
        resource.deployment_status_message = result.message
        resource.last_modified_at = now
        return
    _end(deployment, DeploymentStatus.DELETE_COMPLETE, result.message, now)
    if isinstance(resource, Environment):
        environments.remove_environment(session, arns, resource)
        return
    if isinstance(resource, Component):
        components.remove_component(session, arns, resource)
        return
    session.execute(delete(Tag).where(Tag.resource_arn == deployment.target_arn))
    deployments.forget_resource(session, deployment.target_arn)
    session.delete(resource)
    session.flush()
