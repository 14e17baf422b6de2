"""Ways out of a failed deployment (ARCHITECTURE rule 4): continue the engine's failed
rollback, or run the failed deployment again as a new one.

Both record a deployment and its job in the caller's transaction, as every deployment does;
the worker does the cloud's part (engine/deploy.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain import components, deployments, environments, services
from baryon.domain.arns import Arns
from baryon.domain.deployments import Deployable, DeploymentOperation, Target
from baryon.domain.errors import Conflict, InvalidInput
from baryon.domain.outcomes import resource_of
from baryon.domain.plan import RecoveryPlan
from baryon.service_models.proton import DeploymentStatus, DeploymentTargetResourceType
from baryon.store.tables import Deployment

# What a retry may re-run: a deployment that ended without doing what it was for.
RETRYABLE = frozenset({DeploymentStatus.FAILED, DeploymentStatus.DELETE_FAILED})
# An engine names a resource to skip in at most this many characters (CloudFormation: 255).
_LOGICAL_ID_MAX = 255


@dataclass(frozen=True)
class ResourceRef:
    """A deployed resource named as a request names it."""

    type: DeploymentTargetResourceType
    environment: str | None = None
    service: str | None = None
    instance: str | None = None
    component: str | None = None


@dataclass(frozen=True)
class Located:
    resource: Deployable
    target: Target
    label: str


def locate(session: Session, arns: Arns, ref: ResourceRef, *, lock: bool = True) -> Located:
    """The resource ``ref`` names (``lock``: for the deployment about to start); NotFound if
    absent."""
    kind = ref.type
    if kind == DeploymentTargetResourceType.ENVIRONMENT:
        environment = environments.find_environment(session, ref.environment or "", lock=lock)
        return Located(
            environment, environments.target(arns, environment), environments.label(environment)
        )
    if kind == DeploymentTargetResourceType.COMPONENT:
        component = components.find_component(session, ref.component or "", lock=lock)
        return Located(component, components.target(arns, component), components.label(component))
    service = services.find_service(session, ref.service or "", lock=lock)
    if kind == DeploymentTargetResourceType.SERVICE_PIPELINE:
        pipeline = services.find_pipeline(session, service, lock=lock)
        target = services.pipeline_target(session, arns, service)
        return Located(pipeline, target, f"The pipeline of service '{service.name}'")
    instance = services.find_instance(session, service.name, ref.instance or "", lock=lock)
    label = f"Service instance '{instance.name}' of service '{service.name}'"
    return Located(instance, services.instance_target(arns, instance), label)


def continue_rollback(
    session: Session,
    located: Located,
    resources_to_skip: Sequence[str],
    now: datetime,
) -> Deployment:
    """Starts a deployment that continues the failed rollback of ``located``'s last
    deployment; Conflict unless that deployment left the engine's rollback failed."""
    resource, label = located.resource, located.label
    deployments.ensure_idle(resource, label)
    last = (
        session.get(Deployment, resource.last_attempted_deployment_id)
        if resource.last_attempted_deployment_id
        else None
    )
    if last is None or not last.rollback_failed:
        shown = f"deployment {last.id} is {last.status}" if last else "it has no deployment"
        raise Conflict(
            f"{label} has no failed rollback to continue ({shown}, and its rollback did not "
            "fail); ContinueUpdateRollback is for a resource whose stack is "
            "UPDATE_ROLLBACK_FAILED."
        )
    skip = _checked_skips(resources_to_skip)
    # Rolling back: from what the failed deployment aimed at to what ran before it.
    return deployments.start(
        session,
        resource,
        located.target,
        operation=DeploymentOperation.RECOVER,
        initial_state=last.target_state,
        target_state=last.initial_state or last.target_state,
        plan=RecoveryPlan(skip),
        now=now,
    )


def _checked_skips(resources_to_skip: Sequence[str]) -> tuple[str, ...]:
    skip: list[str] = []
    for index, name in enumerate(resources_to_skip):
        if not name.strip() or len(name) > _LOGICAL_ID_MAX:
            raise InvalidInput.at(
                ("resourcesToSkip", index),
                f"a logical resource id of 1 to {_LOGICAL_ID_MAX} characters is due",
            )
        if name not in skip:
            skip.append(name)
    return tuple(skip)


@dataclass(frozen=True)
class Options:
    """The ways out a resource offers now (what the portal shows as actions)."""

    continue_rollback: bool  # its last deployment left a failed rollback
    retryable: Deployment | None  # the failed deployment a retry would run again


def options(session: Session, resource: Deployable) -> Options:
    last_id = resource.last_attempted_deployment_id
    last = session.get(Deployment, last_id) if last_id else None
    if last is None or last.status not in RETRYABLE:
        return Options(False, _recovered_from(session, last))
    if last.rollback_failed:
        return Options(True, None)
    return Options(False, last if last.operation != DeploymentOperation.RECOVER else None)


def _recovered_from(session: Session, last: Deployment | None) -> Deployment | None:
    """After a successful continue: the failed deployment before the continues, if any."""
    if last is None or last.operation != DeploymentOperation.RECOVER:
        return None
    if last.status != DeploymentStatus.SUCCEEDED:
        return None
    earlier = session.scalars(
        select(Deployment)
        .where(
            Deployment.target_arn == last.target_arn,
            Deployment.operation != DeploymentOperation.RECOVER,
            Deployment.created_at < last.created_at,
        )
        .order_by(Deployment.created_at.desc())
        .limit(1)
    ).first()
    return earlier if earlier is not None and earlier.status in RETRYABLE else None


def retry(session: Session, arns: Arns, failed: Deployment, now: datetime) -> Deployment:
    """Runs ``failed`` again as a new deployment with the same target (and plan); Conflict
    unless it ended FAILED or DELETE_FAILED and is its resource's last deployment but for
    the rollback continues that brought the resource back."""
    if failed.status not in RETRYABLE:
        raise Conflict(
            f"The deployment '{failed.id}' is {failed.status}; only a FAILED or DELETE_FAILED "
            "deployment can be retried."
        )
    resource = resource_of(session, failed, lock=True)
    later = session.scalars(
        select(Deployment.operation).where(
            Deployment.target_arn == failed.target_arn,
            Deployment.created_at > failed.created_at,
        )
    ).all()
    if resource is None or any(op != DeploymentOperation.RECOVER for op in later):
        raise Conflict(
            f"The deployment '{failed.id}' is not its resource's last deployment (the resource "
            "is gone or was deployed since); only the last one can be retried."
        )
    deployments.ensure_idle(resource, f"The target of deployment '{failed.id}'")
    last = session.get(Deployment, resource.last_attempted_deployment_id or failed.id)
    if last is not None and last.rollback_failed and last.status in RETRYABLE:
        raise Conflict(
            f"The rollback of deployment '{last.id}' failed: continue it "
            "(ContinueUpdateRollback) before retrying."
        )
    target = Target(
        DeploymentTargetResourceType(failed.target_type),
        failed.target_arn,
        failed.environment_name,
        service_name=failed.service_name,
        service_instance_name=failed.service_instance_name,
        component_name=failed.component_name,
    )
    return deployments.start(
        session,
        resource,
        target,
        operation=DeploymentOperation(failed.operation),
        initial_state=failed.initial_state,
        target_state=failed.target_state,
        plan=deployments.plan_of(failed),
        now=now,
    )
