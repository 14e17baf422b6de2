"""Deployments: every change to a deployed resource is one, with a state machine and a way out.

Starting a deployment (in the API's transaction) marks the resource busy and enqueues the job;
finishing it (in the worker's transaction) records the outcome on both. At most one deployment
per resource is in flight: a second request gets ConflictException.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session, object_session

from baryon.domain import adoption, approval_gate
from baryon.domain.errors import Conflict, NotFound
from baryon.domain.git import PullRequestStatus
from baryon.domain.plan import DeploymentPlan, plan_from_json, plan_to_json
from baryon.service_models.proton import DeploymentStatus, DeploymentTargetResourceType
from baryon.store.jobs import JobKind, enqueue, enqueue_once
from baryon.store.tables import (
    Component,
    Deployment,
    DeploymentEvent,
    DeploymentOutput,
    Environment,
    ProvisionedResourceRow,
    PullRequestRow,
    ServiceInstance,
    ServicePipeline,
)

# A deployment in one of these holds its resource: a second one is refused until it ends.
ACTIVE = frozenset(
    {
        DeploymentStatus.IN_PROGRESS,
        DeploymentStatus.DELETE_IN_PROGRESS,
        DeploymentStatus.CANCELLING,
    }
)
TERMINAL = frozenset(
    {
        DeploymentStatus.SUCCEEDED,
        DeploymentStatus.FAILED,
        DeploymentStatus.DELETE_COMPLETE,
        DeploymentStatus.DELETE_FAILED,
        DeploymentStatus.CANCELLED,
    }
)


class DeploymentOperation(StrEnum):
    """What a deployment does to its resource: Baryon's own record, Proton's API has no name
    for it (it tells a delete by its DELETE_* statuses)."""

    DEPLOY = "DEPLOY"
    DELETE = "DELETE"
    # Continues the engine's failed rollback (CloudFormation's ContinueUpdateRollback): the
    # resource goes back to what its last successful deployment left.
    RECOVER = "RECOVER"


Deployable = Environment | ServiceInstance | ServicePipeline | Component


@dataclass(frozen=True)
class Target:
    """Names and ARN of the resource a deployment changes."""

    type: DeploymentTargetResourceType
    arn: str
    environment_name: str
    service_name: str | None = None
    service_instance_name: str | None = None
    component_name: str | None = None


def initial_columns(now: datetime) -> dict[str, Any]:
    """A new resource's deployment columns before its first deployment starts."""
    return {
        "deployment_status": DeploymentStatus.IN_PROGRESS,
        "last_deployment_attempted_at": now,
        "last_deployment_succeeded_at": now,  # Proton requires a value; creation time it is
        "created_at": now,
        "last_modified_at": now,
    }


def ensure_idle(resource: Deployable, label: str) -> None:
    """Conflict while a deployment holds the resource; one waiting on its pull request does
    not (a newer deployment supersedes it: ``start``)."""
    if resource.deployment_status in ACTIVE and _waiting_on_pull_request(resource) is None:
        raise Conflict(
            f"{label} has a deployment in progress ({resource.deployment_status}, deployment "
            f"{resource.last_attempted_deployment_id}); wait for it or cancel it."
        )


def start(
    session: Session,
    resource: Deployable,
    target: Target,
    *,
    operation: DeploymentOperation,
    initial_state: dict[str, Any] | None,
    target_state: dict[str, Any] | None,
    plan: DeploymentPlan,
    now: datetime,
    run_now: bool = True,
) -> Deployment:
    """Records a deployment and marks ``resource`` busy; ``run_now=False`` leaves the job to
    be enqueued later (a pipeline waiting for its service's instances)."""
    superseded = _waiting_on_pull_request(resource)
    deployment = Deployment(
        id=str(uuid.uuid4()),
        target_type=target.type,
        target_arn=target.arn,
        operation=operation,
        environment_name=target.environment_name,
        service_name=target.service_name,
        service_instance_name=target.service_instance_name,
        component_name=target.component_name,
        status=(
            DeploymentStatus.DELETE_IN_PROGRESS
            if operation == DeploymentOperation.DELETE
            else DeploymentStatus.IN_PROGRESS
        ),
        cancel_requested=False,
        initial_state=initial_state,
        target_state=target_state,
        # The spec is stored once: the plan refers to the target state's (domain/plan.py).
        plan=plan_to_json(plan, target_state),
        last_attempted_deployment_id=resource.last_attempted_deployment_id,
        last_succeeded_deployment_id=resource.last_succeeded_deployment_id,
        target_resource_created_at=resource.created_at or now,
        created_at=now,
        last_modified_at=now,
    )
    session.add(deployment)
    warnings = plan.warnings  # e.g. spec inputs the schema does not declare
    if warnings:
        session.flush()  # the events refer to the deployment row
    for warning in warnings:
        log_event(session, deployment.id, warning, now)
    resource.deployment_status = deployment.status
    resource.deployment_status_message = None
    resource.last_attempted_deployment_id = deployment.id
    resource.last_deployment_attempted_at = now
    resource.last_modified_at = now
    # The rules decide now even for a deployment queued later (a pipeline waiting for its
    # service's instances): the caller's rules are in effect only while it is recorded.
    if approval_gate.hold(session, deployment, resource, plan, now):
        run_now = False  # its job is queued once approved (domain/approvals.py)
    if run_now:
        enqueue_job(session, deployment, now)
    if superseded is not None:
        _supersede(session, superseded, deployment, now)
    return deployment


def _waiting_on_pull_request(resource: Deployable) -> Deployment | None:
    """The resource's in-progress deployment when it only waits on a pull request
    (domain/pull_requests.py), else None."""
    session = object_session(resource)
    deployment_id = resource.last_attempted_deployment_id
    if (
        session is None
        or deployment_id is None
        or resource.deployment_status != DeploymentStatus.IN_PROGRESS
    ):
        return None
    waiting = session.scalar(
        select(PullRequestRow.id).where(
            PullRequestRow.deployment_id == deployment_id,
            PullRequestRow.state.in_((PullRequestStatus.OPEN, PullRequestStatus.MERGED)),
        )
    )
    if waiting is None:
        return None
    deployment = session.get(Deployment, deployment_id, with_for_update=True)
    if deployment is None or deployment.status != DeploymentStatus.IN_PROGRESS:
        return None
    return deployment


def _supersede(session: Session, old: Deployment, new: Deployment, now: datetime) -> None:
    """A newer deployment replaces one waiting on its pull request: the old one ends
    CANCELLED (a report naming it is refused from now on) and its pull request's watcher
    closes the pull request."""
    message = f"Superseded by deployment {new.id}; its pull request is closed."
    old.status = DeploymentStatus.CANCELLED
    old.status_message = message
    old.completed_at = now
    old.last_modified_at = now
    log_event(session, old.id, message, now)
    enqueue_once(session, JobKind.PULL_REQUEST, {"deployment_id": old.id}, now)


def plan_of(deployment: Deployment) -> DeploymentPlan:
    """The plan a deployment record holds, typed (with what it shares with the target state)."""
    return plan_from_json(deployment.plan, deployment.target_state)


def enqueue_job(session: Session, deployment: Deployment, now: datetime) -> None:
    enqueue(session, JobKind.DEPLOY, {"deployment_id": deployment.id}, now)


def request_cancel(session: Session, resource: Deployable, label: str, now: datetime) -> None:
    """CANCELLING now; the worker running it (or about to) ends it CANCELLED."""
    if (
        resource.deployment_status != DeploymentStatus.IN_PROGRESS
        or not resource.last_attempted_deployment_id
    ):
        raise Conflict(
            f"{label} has no deployment in progress to cancel (status "
            f"{resource.deployment_status})."
        )
    deployment = session.get(
        Deployment, resource.last_attempted_deployment_id, with_for_update=True
    )
    if deployment is None or deployment.status != DeploymentStatus.IN_PROGRESS:
        raise Conflict(f"{label} has no deployment in progress to cancel.")
    deployment.cancel_requested = True
    deployment.status = DeploymentStatus.CANCELLING
    deployment.last_modified_at = now
    resource.deployment_status = DeploymentStatus.CANCELLING
    resource.last_modified_at = now
    if approval_gate.withdraw(session, deployment.id, now):
        # Held for approval, so no job would ever run it: one is queued to end it CANCELLED.
        enqueue_job(session, deployment, now)
    if session.scalar(
        select(PullRequestRow.id).where(PullRequestRow.deployment_id == deployment.id)
    ):
        # No job runs a deployment handed off to a pull request: its watcher closes it.
        enqueue_once(session, JobKind.PULL_REQUEST, {"deployment_id": deployment.id}, now)


def log_event(session: Session, deployment_id: str, message: str, now: datetime) -> None:
    session.add(DeploymentEvent(deployment_id=deployment_id, at=now, message=message))


def outputs_of(session: Session, deployment_id: str | None) -> dict[str, str]:
    if deployment_id is None:
        return {}
    rows = session.execute(_OUTPUTS_OF, {"deployment_id": deployment_id})
    return {key: value for key, value in rows.all()}


# Built once (building a select and its cache key costs more than running it: issue 17).
_OUTPUTS_OF = (
    select(DeploymentOutput.key, DeploymentOutput.value)
    .where(DeploymentOutput.deployment_id == bindparam("deployment_id"))
    .order_by(DeploymentOutput.key)
)


def store_outputs(session: Session, deployment_id: str, outputs: dict[str, str]) -> None:
    session.execute(delete(DeploymentOutput).where(DeploymentOutput.deployment_id == deployment_id))
    for key, value in sorted(outputs.items()):
        session.add(DeploymentOutput(deployment_id=deployment_id, key=key, value=value))


@dataclass(frozen=True)
class Provisioned:
    """One thing a deployment left in the cloud, as the worker reports it."""

    name: str
    identifier: str
    engine: str
    simulated: bool = False  # the local cloud stood in for it: nothing real exists


def replace_provisioned_resources(
    session: Session, arn: str, resources: Sequence[Provisioned]
) -> None:
    session.execute(
        delete(ProvisionedResourceRow).where(ProvisionedResourceRow.resource_arn == arn)
    )
    for resource in resources:
        session.add(
            ProvisionedResourceRow(
                resource_arn=arn,
                name=resource.name,
                identifier=resource.identifier,
                engine=resource.engine,
                simulated=resource.simulated,
            )
        )


def forget_resource(session: Session, arn: str) -> None:
    """What goes with a deleted resource (its deployments stay, as Proton keeps them)."""
    session.execute(
        delete(ProvisionedResourceRow).where(ProvisionedResourceRow.resource_arn == arn)
    )
    adoption.forget(session, arn)  # a resource made again under the name starts afresh


def find_deployment(session: Session, deployment_id: str) -> Deployment:
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        raise NotFound(f"The deployment '{deployment_id}' was not found.")
    return deployment
