"""Holding a deployment for approval: the gate ``deployments.start`` passes every deployment
through before it enqueues the job.

Which changes need approval is decided by approval rules (Cedar policies, evaluated by the
application layer: operations/approval_rules.py). The application layer puts its decision
maker in effect for the call (``in_effect``), so the domain asks it without knowing Cedar or who
the caller is. A held deployment is IN_PROGRESS (Proton's model has no waiting status) with no
job: it runs only once approved (domain/approvals.py), and a restart keeps it waiting. Its
expiry job ends it when nobody decides in time. The decision is taken when the deployment is
recorded, also for one whose job is queued later (a pipeline waiting for its service's
instances, domain/services.py): then both its turn and its approval must come before it runs.

Which deployments pass the gate (``hold`` is the one place that decides: rules in effect or
none):
- every operation of the API, the portal and the CLI (operations/registry.py), including those
  whose call starts deployments itself: ApproveFleetPreview (requested by who approved the
  preview), DecideDriftItem's redeploy, RollbackResource(s), RetryDeployment,
  ContinueUpdateRollback, and a service's pipeline queued after its instances;
- service sync (engine/service_sync.py): a push's deployments, requested by Baryon itself
  (``system/baryon``, as the audit trail names git-started changes);
- a rollout's rollback that a person asked for (RollbackRollout): a rollback is a change to
  prod too. Each resource's move back to its last known good is judged, as the person who
  asked meets the rules, when they ask (domain/rollouts.py ``begin_rollback``); the rollout
  job starts the rollback deployments later, and one a rule holds is held here under what
  was recorded then (``Recorded``): requested by that person, so someone else approves it
  (whoever asked, the rollout's creator included, cannot), and rejected or expired it ends
  CANCELLED and the resource counts as not rolled back.
Which deliberately do not:
- a rollout's waves (engine/rollouts.py): steps of a change previewed and approved as a whole
  (ApproveRollout, and each wave's own approval when its plan asks). The same rules judge
  the rollout instead (domain/rollouts.py): each resource's move, as its creator would meet
  them (``planned_change``), when it is created and again when its creator previews or
  approves it; when a rule would hold one, the rollout says which and why, and
  ApproveRollout (and the approval of a wave holding such a resource) must come from someone
  other than its creator;
- a rollout's automatic rollback (a failed gate with ``onFailure: ROLLBACK_WAVE``): it
  restores the last approved state while the alarm or the failures go on, and must not wait
  for a person while prod burns. It acts under the rollout's own approval (its ApproveRollout),
  is recorded in the rollout's events saying so, and in the audit trail as RollbackRollout by
  ``system/baryon`` (engine/rollouts.py);
- what finishes a deployment that passed already: its job, a cancel, a pull request's merge
  or close (engine/pull_requests.py);
- imports and adoption: they record what runs already and change nothing in the cloud.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from baryon.domain.plan import DeploymentPlan, TemplatePlan
from baryon.service_models.proton import DeploymentTargetResourceType
from baryon.store.jobs import JobKind, enqueue
from baryon.store.tables import (
    ApprovalRow,
    Component,
    Deployment,
    DeploymentEvent,
    Environment,
    ServiceInstance,
    ServicePipeline,
    TemplateVersion,
)


class ApprovalStatus(StrEnum):
    PENDING = "PENDING"  # the deployment waits, no job queued
    APPROVED = "APPROVED"  # its job is queued: it runs as any other
    REJECTED = "REJECTED"  # it ended CANCELLED without touching the cloud
    EXPIRED = "EXPIRED"  # nobody decided within approval_expiry_hours: ended CANCELLED
    CANCELLED = "CANCELLED"  # its deployment was cancelled while it waited


@dataclass(frozen=True)
class Change:
    """A deployment about to start, as approval rules see it."""

    deployment_id: str
    target_type: str  # proton.DeploymentTargetResourceType
    target_arn: str
    operation: str  # deployments.DeploymentOperation
    environment_name: str
    service_name: str | None
    service_instance_name: str | None
    component_name: str | None
    template_name: str | None  # None for a component (inline IaC)
    # (major, minor); current is None before the first success, target for a delete.
    current_version: tuple[int, int] | None
    target_version: tuple[int, int] | None

    @property
    def major_upgrade(self) -> bool:
        return (
            self.current_version is not None
            and self.target_version is not None
            and self.target_version[0] > self.current_version[0]
        )


@dataclass(frozen=True)
class ApprovalRequirement:
    rules: tuple[str, ...]  # the names of the rules that asked for approval
    reason: str  # shown to the approver and on the deployment


class ApprovalPolicy(Protocol):
    """Decides, for one caller, which changes wait for approval."""

    @property
    def requester(self) -> str: ...  # the caller's principal label: "user/alice"

    @property
    def expiry(self) -> timedelta: ...

    def requires_approval(self, session: Session, change: Change) -> ApprovalRequirement | None: ...

    def requirements(
        self, session: Session, changes: Sequence[Change]
    ) -> list[ApprovalRequirement | None]:
        """``requires_approval`` of each change, in order (a rollout's thousands at once)."""
        ...


_policy: ContextVar[ApprovalPolicy | None] = ContextVar("approval_policy", default=None)


@contextmanager
def in_effect(policy: ApprovalPolicy) -> Iterator[None]:
    """Deployments started inside the block are checked against ``policy``."""
    token = _policy.set(policy)
    try:
        yield
    finally:
        _policy.reset(token)


@dataclass(frozen=True)
class Recorded:
    """A decision the rules took earlier, held to now: a rollout's rollback judged when a
    person asked for it (domain/rollouts.py), whose deployments the rollout job starts later,
    when the asker's rules are no longer at hand. Every change it is asked about is held."""

    requester: str
    expiry: timedelta
    requirement: ApprovalRequirement

    def requires_approval(self, session: Session, change: Change) -> ApprovalRequirement | None:
        return self.requirement

    def requirements(
        self, session: Session, changes: Sequence[Change]
    ) -> list[ApprovalRequirement | None]:
        return [self.requirement for _ in changes]


def in_force() -> ApprovalPolicy | None:
    """The rules in effect for this call (None: none, as for a rollout job's own steps)."""
    return _policy.get()


Held = Environment | ServiceInstance | ServicePipeline | Component


def hold(
    session: Session, deployment: Deployment, resource: Held, plan: DeploymentPlan, now: datetime
) -> bool:
    """True when ``deployment`` must wait for approval: its approval is recorded, its expiry
    scheduled, and the caller must not enqueue its job."""
    policy = _policy.get()
    if policy is None:
        # Nobody put rules in effect: a step of a change approved already (a rollout's wave),
        # never a request of its own (the module's docstring lists who passes the gate).
        return False
    requirement = policy.requires_approval(session, change_of(session, deployment, resource, plan))
    if requirement is None:
        return False
    expires_at = now + policy.expiry
    session.add(
        ApprovalRow(
            deployment_id=deployment.id,
            target_arn=deployment.target_arn,
            status=ApprovalStatus.PENDING,
            requested_by=policy.requester,
            rules=list(requirement.rules),
            reason=requirement.reason,
            requested_at=now,
            expires_at=expires_at,
        )
    )
    message = waiting_message(policy.requester, requirement, expires_at)
    deployment.status_message = message
    session.flush()  # the event refers to the deployment row
    session.add(DeploymentEvent(deployment_id=deployment.id, at=now, message=message))
    enqueue(
        session, JobKind.APPROVAL_EXPIRY, {"deployment_id": deployment.id}, now
    ).run_after = expires_at
    return True


def waiting_message(requester: str, requirement: ApprovalRequirement, expires_at: datetime) -> str:
    return (
        f"Waiting for approval ({requirement.reason}); requested by {requester}, expires at "
        f"{expires_at:%Y-%m-%d %H:%M} UTC. Approve or reject it: baryon approvals approve|reject "
        "DEPLOYMENT_ID, or the portal's Approvals page."
    )


def _current_version(resource: Held) -> tuple[int, int] | None:
    if isinstance(resource, Component) or resource.last_succeeded_deployment_id is None:
        return None
    return (resource.template_major, resource.template_minor)


def change_of(
    session: Session, deployment: Deployment, resource: Held, plan: DeploymentPlan
) -> Change:
    current = _current_version(resource)
    template_name = None
    target = None
    if not isinstance(resource, Component) and isinstance(plan, TemplatePlan):
        version = session.get(TemplateVersion, plan.template_version_id)
        if version is not None:
            target = (version.major, version.minor)
            template_name = version.template.name
    return Change(
        deployment_id=deployment.id,
        target_type=deployment.target_type,
        target_arn=deployment.target_arn,
        operation=deployment.operation,
        environment_name=deployment.environment_name,
        service_name=deployment.service_name,
        service_instance_name=deployment.service_instance_name,
        component_name=deployment.component_name,
        template_name=template_name,
        current_version=current,
        target_version=target,
    )


def planned_change(
    change_id: str,
    resource: Environment | ServiceInstance,
    target_arn: str,
    operation: str,
    template_name: str,
    target_version: tuple[int, int],
) -> Change:
    """The change a deployment of ``resource`` to ``target_version`` would be, before there is
    one (a rollout's resource, judged when the rollout is planned): what ``change_of`` would
    build for it, under ``change_id`` in place of a deployment's id."""
    if isinstance(resource, Environment):
        kind, environment = DeploymentTargetResourceType.ENVIRONMENT, resource.name
        service, instance = None, None
    else:
        kind, environment = DeploymentTargetResourceType.SERVICE_INSTANCE, resource.environment_name
        service, instance = resource.service_name, resource.name
    return Change(
        deployment_id=change_id,
        target_type=kind,
        target_arn=target_arn,
        operation=operation,
        environment_name=environment,
        service_name=service,
        service_instance_name=instance,
        component_name=None,
        template_name=template_name,
        current_version=_current_version(resource),
        target_version=target_version,
    )


def pending(session: Session, deployment_id: str, *, lock: bool = False) -> ApprovalRow | None:
    """The deployment's approval while it still waits, else None."""
    row = session.get(ApprovalRow, deployment_id, with_for_update=lock)
    return row if row is not None and row.status == ApprovalStatus.PENDING else None


def withdraw(session: Session, deployment_id: str, now: datetime) -> bool:
    """The waiting deployment is being cancelled: its approval ends CANCELLED. True when it
    was waiting (so no job runs it yet, and the caller must queue one to end it)."""
    row = pending(session, deployment_id, lock=True)
    if row is None:
        return False
    policy = _policy.get()
    row.status = ApprovalStatus.CANCELLED
    row.decided_by = policy.requester if policy is not None else None
    row.decided_at = now
    return True
