"""ContinueUpdateRollback and RetryDeployment (the ``baryon`` model): the ways out of a failed
deployment, for every front door.

The API, the CLI (through the API) and the portal (in process) call these functions; each
records a deployment and its job in one transaction (domain/recovery.py) and returns at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from baryon.domain import deployments, recovery
from baryon.domain.errors import InvalidInput
from baryon.domain.recovery import ResourceRef
from baryon.operations.context import RequestContext
from baryon.operations.deployment_history import provisioned_resources
from baryon.operations.registry import baryon_operation
from baryon.operations.resource_keys import ENVIRONMENT, INSTANCE, ResourceKey
from baryon.service_models.baryon import (
    ContinueUpdateRollbackInput,
    ContinueUpdateRollbackOutput,
    RecoverableResourceType,
    RetryDeploymentInput,
    RetryDeploymentOutput,
    StartedDeployment,
)
from baryon.service_models.proton import DeploymentTargetResourceType
from baryon.store.tables import Deployment

# Which request members name each kind of resource.
_NAMES: dict[RecoverableResourceType, tuple[str, ...]] = {
    RecoverableResourceType.ENVIRONMENT: ("environmentName",),
    RecoverableResourceType.SERVICE_INSTANCE: ("serviceName", "serviceInstanceName"),
    RecoverableResourceType.SERVICE_PIPELINE: ("serviceName",),
    RecoverableResourceType.COMPONENT: ("componentName",),
}
_MEMBERS = ("environmentName", "serviceName", "serviceInstanceName", "componentName")


@dataclass(frozen=True)
class RollbackRequest:
    """What the portal's form and the API's request both come to."""

    resource: ResourceRef
    resources_to_skip: tuple[str, ...] = ()


@baryon_operation("ContinueUpdateRollback")
def continue_update_rollback(
    ctx: RequestContext, request: ContinueUpdateRollbackInput
) -> ContinueUpdateRollbackOutput:
    started = continue_rollback(
        ctx, RollbackRequest(resource_ref(request), tuple(request.get("resourcesToSkip") or ()))
    )
    return {"deployment": started}


@baryon_operation("RetryDeployment")
def retry_deployment(ctx: RequestContext, request: RetryDeploymentInput) -> RetryDeploymentOutput:
    return {"deployment": retry(ctx, request["id"])}


def continue_rollback(ctx: RequestContext, request: RollbackRequest) -> StartedDeployment:
    with ctx.db.session(write=True) as session:
        located = recovery.locate(session, ctx.arns, request.resource)
        deployment = recovery.continue_rollback(
            session, located, request.resources_to_skip, ctx.now
        )
        started = _started(deployment)
    ctx.jobs_enqueued()
    return started


def retry(ctx: RequestContext, deployment_id: str) -> StartedDeployment:
    with ctx.db.session(write=True) as session:
        failed = deployments.find_deployment(session, deployment_id)
        deployment = recovery.retry(session, ctx.arns, failed, ctx.now)
        started = _started(deployment)
    ctx.jobs_enqueued()
    return started


@dataclass(frozen=True)
class RecoveryOptions:
    """What a resource's page offers: continue its failed rollback (skipping any of
    ``skippable``, the engine's names for what it provisioned), retry a failed deployment."""

    continue_rollback: bool
    retry_id: str | None
    skippable: tuple[str, ...]


def recovery_options(ctx: RequestContext, key: ResourceKey) -> RecoveryOptions:
    with ctx.db.session() as session:
        located = recovery.locate(session, ctx.arns, ref_of_key(key), lock=False)
        found = recovery.options(session, located.resource)
        skippable = (
            tuple(row.name for row in provisioned_resources(session, located.target.arn))
            if found.continue_rollback
            else ()
        )
        retry_id = found.retryable.id if found.retryable is not None else None
        return RecoveryOptions(found.continue_rollback, retry_id, skippable)


def ref_of_key(key: ResourceKey) -> ResourceRef:
    """The portal's resource key as the recovery actions name a resource."""
    if key.kind == ENVIRONMENT:
        return ResourceRef(DeploymentTargetResourceType.ENVIRONMENT, environment=key.name)
    if key.kind == INSTANCE:
        return ResourceRef(
            DeploymentTargetResourceType.SERVICE_INSTANCE, service=key.service, instance=key.name
        )
    return ResourceRef(DeploymentTargetResourceType.SERVICE_PIPELINE, service=key.service)


def rollback_request(key: ResourceKey, skip: Sequence[str]) -> ContinueUpdateRollbackInput:
    """ContinueUpdateRollback of the portal's resource, as an API client would ask for it."""
    request: ContinueUpdateRollbackInput
    if key.kind == ENVIRONMENT:
        request = {"resourceType": RecoverableResourceType.ENVIRONMENT, "environmentName": key.name}
    elif key.kind == INSTANCE:
        request = {
            "resourceType": RecoverableResourceType.SERVICE_INSTANCE,
            "serviceName": key.service or "",
            "serviceInstanceName": key.name,
        }
    else:
        request = {
            "resourceType": RecoverableResourceType.SERVICE_PIPELINE,
            "serviceName": key.service or "",
        }
    if skip:
        request["resourcesToSkip"] = list(skip)
    return request


def resource_ref(request: ContinueUpdateRollbackInput) -> ResourceRef:
    """The resource the request names; exactly the members its resourceType calls for."""
    kind = RecoverableResourceType(request["resourceType"])
    wanted = _NAMES[kind]
    for member in _MEMBERS:
        given = request.get(member) is not None
        if member in wanted and not given:
            raise InvalidInput.at((member,), f"a {kind} names its {_words(wanted)}")
        if member not in wanted and given:
            raise InvalidInput.at((member,), f"a {kind} is named by {_words(wanted)} only")
    return ResourceRef(
        DeploymentTargetResourceType(kind.value),
        environment=request.get("environmentName"),
        service=request.get("serviceName"),
        instance=request.get("serviceInstanceName"),
        component=request.get("componentName"),
    )


def _words(members: Sequence[str]) -> str:
    return " and ".join(members)


def _started(deployment: Deployment) -> StartedDeployment:
    return {
        "id": deployment.id,
        "status": deployment.status,
        "targetArn": deployment.target_arn,
        "targetResourceType": RecoverableResourceType(deployment.target_type),
    }
