"""Drift check jobs: run one resource's check with its engine's own detection, and the
schedule that asks for checks of every resource due one.

A check reads the resource in one short transaction, talks to the cloud (or runs Terraform)
with no transaction open, and records what it saw in a second one; run again after a crash,
it simply checks again. A resource with a deployment in flight is not checked (SKIPPED): the
engine would report the deployment's own changes as drift.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.cloud.clients import cloud_client
from baryon.domain import adoption, deployments, drift, environments, services
from baryon.domain.drift import CheckStatus, DriftTarget, Observation
from baryon.domain.environment_account_connections import ConnectionUnavailable
from baryon.domain.errors import NotFound
from baryon.engine import drift_cloudformation, drift_terraform, provisioning
from baryon.engine.handlers import JobContext, LeaseLost, register_job
from baryon.provisioners.base import ProvisioningEngine, ResourceIdentity
from baryon.provisioners.cloudformation_api import CLOUD_ERRORS, error_message
from baryon.provisioners.names import resource_stack_name
from baryon.provisioners.selection import provisioner_for
from baryon.provisioners.terraform import TerraformProvisioner
from baryon.service_models.proton import DeploymentStatus, ProvisionedResourceEngine
from baryon.store import jobs
from baryon.store.jobs import JobKind
from baryon.store.tables import (
    Deployment,
    DriftCheckRow,
    Environment,
    ProvisionedResourceRow,
    Service,
    ServiceInstance,
    ServicePipeline,
    TerraformStateVersion,
)

log = logging.getLogger(__name__)

SCHEDULER = "baryon/drift-schedule"
# How often the schedule looks for resources due a check, at most.
SCHEDULE_TICK = timedelta(seconds=60)
_FORGET_AFTER = timedelta(days=1)

Row = Environment | ServiceInstance | ServicePipeline


@dataclass(frozen=True)
class _Work:
    check_id: str
    resource: ResourceIdentity
    engine: ProvisioningEngine
    inputs: dict[str, Any]


class DriftIO:
    """What a Terraform run borrows while checking: its lines go to the worker's log (a check
    has no deployment log), and a lost lease stops it."""

    deployment_id = None

    def __init__(self, context: JobContext, resource_arn: str) -> None:
        self._context, self._arn = context, resource_arn

    def log(self, message: str) -> None:
        log.debug("drift check of %s: %s", self._arn, message)

    def cancel_requested(self) -> bool:
        return self._context.lease_lost.is_set()

    def heartbeat(self) -> None:
        if self._context.lease_lost.is_set():
            raise LeaseLost(f"drift check of {self._arn}")


# --- one check ------------------------------------------------------------------------------


def run_check(context: JobContext, payload: dict[str, Any]) -> None:
    runtime = context.runtime
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        check = session.get(DriftCheckRow, payload["check_id"], with_for_update=True)
        if check is None or check.status in drift.FINISHED:
            return
        work, refusal = _prepare(session, runtime.settings, check)
        if work is None:
            status, message = refusal
            drift.finish_check(session, check, status, message, now)
            return
        check.status = CheckStatus.RUNNING
    try:
        observation = _observe(context, work)
    except _CheckFailed as failed:
        _finish(context, work.check_id, CheckStatus.FAILED, str(failed))
        return
    with runtime.db.session(write=True) as session:
        check = drift.find_check(session, work.check_id, lock=True)
        if check.status != CheckStatus.RUNNING:
            return
        drift.record_observation(session, check, observation, work.inputs, datetime.now(UTC))


def _give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    _finish(
        context,
        payload["check_id"],
        CheckStatus.FAILED,
        f"The drift check could not complete after {context.attempt} attempts: {error}",
    )


def _finish(context: JobContext, check_id: str, status: CheckStatus, message: str) -> None:
    with context.runtime.db.session(write=True) as session:
        check = session.get(DriftCheckRow, check_id, with_for_update=True)
        if check is not None and check.status not in drift.FINISHED:
            drift.finish_check(session, check, status, message, datetime.now(UTC))


class _CheckFailed(Exception):
    """The engine's detection did not run; the message says why."""


def _resource(session: Session, check: DriftCheckRow) -> Row | None:
    try:
        if check.resource_kind == "environment":
            return environments.find_environment(session, check.resource_name)
        service = services.find_service(session, check.service_name or "")
        if check.resource_kind == "instance":
            return services.find_instance(session, service.name, check.resource_name)
        return services.find_pipeline(session, service)
    except NotFound:
        return None


def _prepare(
    session: Session, settings: Any, check: DriftCheckRow
) -> tuple[_Work | None, tuple[CheckStatus, str]]:
    resource = _resource(session, check)
    if resource is None:
        return None, (CheckStatus.FAILED, "The resource no longer exists.")
    if resource.deployment_status in deployments.ACTIVE:
        return None, (
            CheckStatus.SKIPPED,
            "A deployment is in flight on the resource: checked again later.",
        )
    if resource.deployment_status != DeploymentStatus.SUCCEEDED:
        return None, (
            CheckStatus.SKIPPED,
            f"The resource's last deployment is {resource.deployment_status}: only a resource "
            "whose last deployment succeeded is checked.",
        )
    deployment = session.get(Deployment, resource.last_succeeded_deployment_id or "")
    if deployment is None:
        return None, (CheckStatus.FAILED, "The resource has no successful deployment.")
    adopted = adoption.adopted_stack(session, check.resource_arn)
    try:
        account = provisioning.environment_account(session, deployment)
    except ConnectionUnavailable as exc:
        return None, (CheckStatus.FAILED, str(exc))
    identity = provisioning.resource_identity(
        deployment,
        settings,
        stack_name=adopted.stack_name if adopted else None,
        account=account,
    )
    engine = _engine(session, check.resource_arn)
    if engine is None:
        return None, (
            CheckStatus.FAILED,
            "Drift is checked for CloudFormation and Terraform resources; this resource's "
            "commands ran elsewhere (CodeBuild or a pull request), so Baryon cannot see what "
            "they made.",
        )
    inputs = dict(resource.inputs or {})
    return _Work(check.id, identity, engine, inputs), (CheckStatus.RUNNING, "")


def _engine(session: Session, resource_arn: str) -> ProvisioningEngine | None:
    if session.scalars(
        select(TerraformStateVersion.id).where(TerraformStateVersion.resource_arn == resource_arn)
    ).first():
        return ProvisioningEngine.TERRAFORM
    engines = set(
        session.scalars(
            select(ProvisionedResourceRow.engine).where(
                ProvisionedResourceRow.resource_arn == resource_arn
            )
        )
    )
    if engines and ProvisionedResourceEngine.CLOUDFORMATION not in engines:
        return None
    # A stack with no resources left a row-less record: CloudFormation still knows it.
    return ProvisioningEngine.CLOUDFORMATION


def _observe(context: JobContext, work: _Work) -> Observation:
    runtime = context.runtime
    settings = runtime.settings
    io = DriftIO(context, work.resource.arn)
    if work.engine == ProvisioningEngine.TERRAFORM:
        provisioner = provisioner_for(
            ProvisioningEngine.TERRAFORM,
            settings,
            runtime.provisioner_parts,
            work.resource.account_role_arn,
        )
        if not isinstance(provisioner, TerraformProvisioner):
            raise _CheckFailed("Terraform is not available on this worker.")
        outcome, plan_json = provisioner.refresh_only_plan(work.resource, io)
        if plan_json is None:
            raise _CheckFailed(outcome.message or "The refresh-only plan did not complete.")
        try:
            return drift_terraform.observation(json.loads(plan_json))
        except ValueError as exc:
            raise _CheckFailed(f"Terraform's plan could not be read: {exc}") from exc
    client = cloud_client(settings, "cloudformation", work.resource.account_role_arn)
    stack = resource_stack_name(work.resource)
    try:
        return drift_cloudformation.detect(
            client,
            stack,
            timeout=settings.drift_check_timeout_seconds,
            heartbeat=io.heartbeat,
            poll=settings.deployment_poll_seconds,
        )
    except drift_cloudformation.DetectionFailed as exc:
        raise _CheckFailed(f"CloudFormation's drift detection of {stack} failed: {exc}") from exc
    except CLOUD_ERRORS as exc:
        raise _CheckFailed(
            f"CloudFormation's drift detection of {stack} failed: {error_message(exc)}"
        ) from exc


register_job(JobKind.DRIFT_CHECK, run_check, _give_up)


# --- the schedule ---------------------------------------------------------------------------


def ensure_schedule(db: Any, interval: int) -> None:
    """Starts the schedule (a worker's start-up): one waiting job, whoever asks."""
    if interval <= 0:
        return
    now = datetime.now(UTC)
    with db.session(write=True) as session:
        jobs.enqueue_once(session, JobKind.DRIFT_SCHEDULE, {}, now)


def run_schedule(context: JobContext, payload: dict[str, Any]) -> None:
    runtime = context.runtime
    interval = runtime.settings.drift_check_interval
    if interval <= 0:
        return  # switched off since: the schedule ends with this job
    now = datetime.now(UTC)
    due_before = now - timedelta(seconds=interval)
    with runtime.db.session(write=True) as session:
        for target in _targets(session, runtime):
            last = drift.last_check(session, target.arn)
            if last is not None and last.requested_at > due_before:
                continue
            drift.request_check(session, target, SCHEDULER, now)
        later = now + min(SCHEDULE_TICK, timedelta(seconds=interval))
        jobs.enqueue_once(session, JobKind.DRIFT_SCHEDULE, {}, now, run_after=later)
        jobs.forget_finished(
            session, [JobKind.DRIFT_SCHEDULE, JobKind.DRIFT_CHECK], before=now - _FORGET_AFTER
        )
    runtime.job_wakeup.set()


def _targets(session: Session, runtime: Any) -> list[DriftTarget]:
    """Every resource whose last deployment succeeded (the others are SKIPPED anyway)."""
    arns = runtime.arns
    succeeded = DeploymentStatus.SUCCEEDED
    found = [
        DriftTarget(arns.environment(e.name), "environment", e.name, None, e.template_name)
        for e in session.scalars(
            select(Environment).where(Environment.deployment_status == succeeded)
        )
    ]
    found += [
        DriftTarget(
            arns.service_instance(i.service_name, i.name),
            "instance",
            i.name,
            i.service_name,
            i.template_name,
        )
        for i in session.scalars(
            select(ServiceInstance).where(ServiceInstance.deployment_status == succeeded)
        )
    ]
    for pipeline in session.scalars(
        select(ServicePipeline).where(ServicePipeline.deployment_status == succeeded)
    ):
        service = session.get(Service, pipeline.service_id)
        if service is not None:
            found.append(
                DriftTarget(
                    arns.service_pipeline(service.name),
                    "pipeline",
                    service.name,
                    service.name,
                    service.template_name,
                )
            )
    return found


def _schedule_failed(context: JobContext, payload: dict[str, Any], error: str) -> None:
    # The next worker start-up enqueues the schedule again.
    log.error("The drift schedule failed: %s", error)


register_job(JobKind.DRIFT_SCHEDULE, run_schedule, _schedule_failed)
