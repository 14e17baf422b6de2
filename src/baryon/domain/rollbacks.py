"""Rollback: a resource goes back to its last known good deployment, as a NEW deployment.

The last known good of a resource is its most recent deployment that SUCCEEDED in deploying
a template version (not a delete, not a continued rollback) before the deployment being
reversed. Going back deploys that deployment's template version with its spec and inputs
again; the new deployment names the one it reverses (``reverses_deployment_id``) and no
earlier record is ever changed (fleet-change.md 17.4: CodeDeploy, Argo, Humanitec). When
there is no such deployment, rollback is unavailable and the refusal says so: the resource
is stalled there until someone fixes it forward.

A rollback is always previewed first: `plan_rollback` says what would go back and yields a
token that `start_rollback` checks, so a rollback starts only from the preview someone saw;
a deployment since then makes the token stale. `losses` lists what a rollback cannot undo:
resources the forward change removed come back new and empty, and those it added go.

Rollouts (domain/rollouts.py) call `last_good` and `start_rollback` for a wave or a rollout.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from baryon.domain import deployments, environments, services
from baryon.domain.arns import Arns
from baryon.domain.deployments import DeploymentOperation, Target
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.domain.plan import TemplatePlan
from baryon.render.cloudformation import parse_cloudformation
from baryon.render.errors import RenderError
from baryon.service_models.proton import DeploymentStatus
from baryon.store.tables import (
    Deployment,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    TemplateVersion,
)

# What a rollback can take back: resources deployed from a template version. A component's
# IaC is inline and has no version to go back to (not covered yet).
Rollbackable = Environment | ServiceInstance | ServicePipeline

# Terraform declares a managed resource as `resource "TYPE" "NAME" {`.
_TERRAFORM_RESOURCE = re.compile(r'^\s*resource\s+"([^"]+)"\s+"([^"]+)"', re.MULTILINE)
_TOKEN_LENGTH = 32


@dataclass(frozen=True)
class RollbackTarget:
    """What a rollback deploys: the last known good deployment's version, spec and inputs."""

    deployment_id: str
    template_version_id: int
    major: int
    minor: int
    spec: str | None
    inputs: Mapping[str, Any]
    completed_at: datetime | None

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}"


@dataclass(frozen=True)
class RollbackPlan:
    """A rollback as previewed: of ``reverses`` (a deployment of the resource) back to
    ``target``; ``token`` names exactly this pair on exactly the resource's current
    deployment, so a rollback started with it is the one previewed."""

    label: str
    reverses: Deployment
    target: RollbackTarget
    version: TemplateVersion
    token: str


class LossKind(StrEnum):
    """What a rollback cannot undo, by how the resource fares."""

    # The forward change removed it: the rollback creates a new, empty one.
    RECREATED = "RECREATED"
    # The forward change added it: the rollback deletes it, with what it holds.
    DELETED = "DELETED"
    # Its type changed: the rollback replaces it.
    REPLACED = "REPLACED"


@dataclass(frozen=True)
class Loss:
    kind: LossKind
    name: str  # the engine's name: a CloudFormation logical id, a Terraform address
    type: str  # the resource type before the rollback (after, for RECREATED)
    file: str

    @property
    def message(self) -> str:
        if self.kind is LossKind.RECREATED:
            return (
                f"{self.name} ({self.type}) was removed by the change being rolled back: the "
                "rollback creates a new one, and what the old one held does not come back."
            )
        if self.kind is LossKind.DELETED:
            return (
                f"{self.name} ({self.type}) came with the change being rolled back: the "
                "rollback deletes it, with what it holds (unless its deletion policy keeps it)."
            )
        return (
            f"{self.name} changes type ({self.type}): the rollback replaces it, and what the "
            "current one holds does not come back."
        )


def label_of(session: Session, resource: Rollbackable) -> str:
    if isinstance(resource, Environment):
        return environments.label(resource)
    if isinstance(resource, ServiceInstance):
        return f"Service instance '{resource.name}' of service '{resource.service_name}'"
    return f"The pipeline of service '{_service_of(session, resource).name}'"


def reversed_deployment(
    session: Session, resource: Rollbackable, arn: str, reverses: str | None
) -> Deployment:
    """The deployment a rollback takes back: ``reverses``, or the resource's last one."""
    deployment_id = reverses or resource.last_attempted_deployment_id
    if deployment_id is None:
        raise Conflict(f"{label_of(session, resource)} has no deployment to roll back.")
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        raise NotFound(f"The deployment '{deployment_id}' was not found.")
    if deployment.target_arn != arn or deployment.created_at < resource.created_at:
        raise InvalidInput.at(
            ("deploymentId",),
            f"the deployment '{deployment_id}' is not a deployment of "
            f"{_lower(label_of(session, resource))}.",
        )
    return deployment


def last_good(
    session: Session, resource: Rollbackable, reverses: str | None = None
) -> RollbackTarget | None:
    """The resource's last known good before ``reverses`` (default: its last deployment):
    the most recent deployment of a template version that SUCCEEDED; None when there is none
    (a rollback is unavailable)."""
    before = session.get(Deployment, reverses or resource.last_attempted_deployment_id or "")
    if before is None:
        return None
    rows = session.scalars(
        select(Deployment)
        .where(
            Deployment.target_arn == before.target_arn,
            Deployment.status == DeploymentStatus.SUCCEEDED,
            Deployment.operation == DeploymentOperation.DEPLOY,
            Deployment.created_at >= resource.created_at,
            Deployment.created_at < before.created_at,
        )
        .order_by(Deployment.created_at.desc())
        .limit(1)
    )
    good = rows.first()
    if good is None:
        return None
    plan = deployments.plan_of(good)
    if not isinstance(plan, TemplatePlan):  # a DEPLOY of a template resource has one
        return None
    entry: Mapping[str, Any] = next(iter((good.target_state or {}).values()), {})
    return RollbackTarget(
        deployment_id=good.id,
        template_version_id=plan.template_version_id,
        major=int(entry.get("templateMajorVersion") or 0),
        minor=int(entry.get("templateMinorVersion") or 0),
        spec=plan.spec,
        inputs=dict(plan.inputs),
        completed_at=good.completed_at,
    )


def plan_rollback(
    session: Session, arns: Arns, resource: Rollbackable, reverses: str | None
) -> RollbackPlan:
    """The rollback of ``reverses`` (default: the resource's last deployment), checked as
    `start_rollback` checks it; Conflict (the reason) when it cannot go ahead now."""
    label = label_of(session, resource)
    deployments.ensure_idle(resource, label)
    arn = target_of(session, arns, resource).arn
    reversed_ = reversed_deployment(session, resource, arn, reverses)
    _refuse_later_changes(session, label, reversed_)
    target = last_good(session, resource, reversed_.id)
    if target is None:
        raise Conflict(
            f"{label} has no successful deployment before deployment {reversed_.id} to go back "
            "to, so it cannot be rolled back (it stays as it is: fix it forward with an update, "
            "or delete it)."
        )
    version = session.get(TemplateVersion, target.template_version_id)
    if version is None:
        raise Conflict(
            f"{label} cannot go back to version {target.version} (of deployment "
            f"{target.deployment_id}): that template version was deleted."
        )
    _check_fits(session, resource, version)
    token = _token(arn, reversed_.id, target.deployment_id, resource.last_attempted_deployment_id)
    return RollbackPlan(label, reversed_, target, version, token)


def start_rollback(
    session: Session,
    arns: Arns,
    resource: Rollbackable,
    reverses: str | None,
    now: datetime,
    *,
    token: str | None,
) -> Deployment:
    """Starts the rollback `plan_rollback` describes, as a new deployment linked to the one it
    reverses. ``token``: the previewed plan's; a different one means the resource moved since
    the preview (Conflict: preview again). None only for a caller that previewed the rollback
    its own way (a rollout's wave)."""
    planned = plan_rollback(session, arns, resource, reverses)
    if token is not None and token != planned.token:
        raise Conflict(
            f"The rollback preview of {_lower(planned.label)} is stale "
            "(it was deployed, or the preview named another deployment, since): preview the "
            "rollback again."
        )
    target, version = planned.target, planned.version
    deployment = deployments.start(
        session,
        resource,
        target_of(session, arns, resource),
        operation=DeploymentOperation.DEPLOY,
        initial_state=_state(
            session, resource, resource.template_major, resource.template_minor, resource.spec
        ),
        target_state=_state(session, resource, version.major, version.minor, target.spec),
        plan=TemplatePlan(version.id, target.spec, target.inputs),
        now=now,
    )
    deployment.reverses_deployment_id = planned.reverses.id
    session.flush()  # the event refers to the deployment row
    deployments.log_event(
        session,
        deployment.id,
        f"Rollback of deployment {planned.reverses.id}: back to version {target.version} with "
        f"the spec of deployment {target.deployment_id}, its last known good.",
        now,
    )
    return deployment


def losses(before: Mapping[str, str], after: Mapping[str, str]) -> list[Loss]:
    """What going from the rendered files ``before`` to ``after`` cannot undo, resource by
    resource, as far as the files declare them (CloudFormation Resources, Terraform resource
    blocks). Files that do not parse declare nothing here."""
    found: list[Loss] = []
    for file in sorted(set(before) | set(after)):
        now = _declared(file, before.get(file))
        back = _declared(file, after.get(file))
        for name in sorted(set(now) | set(back)):
            if name not in back:
                found.append(Loss(LossKind.DELETED, name, now[name], file))
            elif name not in now:
                found.append(Loss(LossKind.RECREATED, name, back[name], file))
            elif now[name] != back[name]:
                found.append(Loss(LossKind.REPLACED, name, f"{now[name]} -> {back[name]}", file))
    return found


def _declared(file: str, text: str | None) -> dict[str, str]:
    """The resources ``text`` declares: name -> type."""
    if not text:
        return {}
    if file.endswith(".tf"):
        return {f"{kind}.{name}": kind for kind, name in _TERRAFORM_RESOURCE.findall(text)}
    if not file.endswith((".yaml", ".yml", ".json", ".template")):
        return {}
    try:
        document = parse_cloudformation(text, file)
    except RenderError:
        return {}
    resources = document.get("Resources")
    if not isinstance(resources, dict):
        return {}
    return {
        str(name): str(entry.get("Type", "?")) if isinstance(entry, dict) else "?"
        for name, entry in resources.items()
    }


def target_of(session: Session, arns: Arns, resource: Rollbackable) -> Target:
    if isinstance(resource, Environment):
        return environments.target(arns, resource)
    if isinstance(resource, ServiceInstance):
        return services.instance_target(arns, resource)
    return services.pipeline_target(session, arns, _service_of(session, resource))


def _service_of(session: Session, pipeline: ServicePipeline) -> Service:
    service = session.get(Service, pipeline.service_id)
    if service is None:
        raise NotFound("The pipeline's service was not found.")
    return service


def _state(
    session: Session, resource: Rollbackable, major: int, minor: int, spec: str | None
) -> dict[str, Any]:
    """The state Proton reports for ``resource`` at that version with that spec."""
    if isinstance(resource, Environment):
        return {
            "environment": {
                "spec": spec,
                "templateName": resource.template_name,
                "templateMajorVersion": str(major),
                "templateMinorVersion": str(minor),
            }
        }
    if isinstance(resource, ServiceInstance):
        return services.instance_state(session, resource, major, minor, spec)
    service = _service_of(session, resource)
    return services.pipeline_state(service.template_name, major, minor, spec)


def _refuse_later_changes(session: Session, label: str, reversed_: Deployment) -> None:
    """A deployment that succeeded after the reversed one changed the resource again: going
    back past it would undo a change nobody asked to undo."""
    later = session.scalar(
        select(Deployment.id)
        .where(
            Deployment.target_arn == reversed_.target_arn,
            Deployment.created_at > reversed_.created_at,
            Deployment.status == DeploymentStatus.SUCCEEDED,
            Deployment.operation == DeploymentOperation.DEPLOY,
        )
        .order_by(Deployment.created_at.desc())
        .limit(1)
    )
    if later is not None:
        raise Conflict(
            f"{label} was deployed again since deployment {reversed_.id} (deployment {later} "
            "succeeded after it): roll back the latest deployment instead."
        )


def _check_fits(session: Session, resource: Rollbackable, version: TemplateVersion) -> None:
    """The version gone back to must still fit where the resource runs: an instance's
    environment, an environment's instances (they may have moved on since)."""
    if isinstance(resource, ServiceInstance):
        environment = session.get(Environment, resource.environment_id)
        if environment is not None:
            try:
                services.check_compatible(version, environment, "rollback")
            except InvalidInput as exc:
                label = label_of(session, resource)
                raise Conflict(f"{label} cannot go back: {exc.reason}") from exc
    elif isinstance(resource, Environment) and version.major != resource.template_major:
        wanted = {"templateName": resource.template_name, "majorVersion": str(version.major)}
        rows = session.execute(
            select(ServiceInstance.service_name, ServiceInstance.name, TemplateVersion)
            .join(
                TemplateVersion,
                and_(
                    TemplateVersion.template_id == ServiceInstance.template_id,
                    TemplateVersion.major == ServiceInstance.template_major,
                    TemplateVersion.minor == ServiceInstance.template_minor,
                ),
            )
            .where(ServiceInstance.environment_id == resource.id)
            .order_by(ServiceInstance.service_name, ServiceInstance.name)
        ).all()
        stuck = [
            f"'{service}/{name}'"
            for service, name, row in rows
            if wanted not in (row.compatible_environment_templates or [])
        ]
        if stuck:
            raise Conflict(
                f"{label_of(session, resource)} cannot go back to major version "
                f"{version.major}: its service instance(s) {', '.join(stuck)} run versions "
                "that do not support it."
            )


def _token(arn: str, reverses: str, target: str, current: str | None) -> str:
    text = "\n".join((arn, reverses, target, current or ""))
    return hashlib.sha256(text.encode()).hexdigest()[:_TOKEN_LENGTH]


def _lower(label: str) -> str:
    return label[0].lower() + label[1:]
