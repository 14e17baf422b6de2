"""The deployment job: render the target's IaC, hand it to its provisioner, record the outcome.

Reads happen in one short transaction, the slow cloud work outside any transaction, and the
outcome in one more; re-running the job after a crash repeats the provisioner's idempotent
steps (what the cloud already holds is awaited or updated, never created twice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from baryon.bundles.errors import BundleError
from baryon.domain import (
    adoption,
    approvals,
    deployments,
    fleet_previews,
    outcomes,
    pull_requests,
    render_target,
)
from baryon.domain.deployments import DeploymentOperation, Provisioned
from baryon.domain.environment_account_connections import ConnectionUnavailable
from baryon.domain.errors import DomainError
from baryon.domain.plan import RecoveryPlan
from baryon.domain.render_target import RenderTarget, SpecOutputs
from baryon.engine import provisioning
from baryon.engine.deployment_io import DatabaseDeploymentIO
from baryon.engine.handlers import JobContext, register_job
from baryon.engine.pull_requests import SelfManaged, deletion_target, self_managed
from baryon.engine.worker_runtime import WorkerRuntime
from baryon.provisioners.base import (
    DeployRequest,
    ExactChange,
    Outcome,
    OutcomeStatus,
    Provisioner,
    ProvisioningEngine,
    ResourceIdentity,
)
from baryon.provisioners.pull_request import PullRequestTarget
from baryon.provisioners.selection import (
    provisioner_for,
    pull_request_provisioner,
    unsupported_message,
)
from baryon.render.errors import RenderError
from baryon.service_models.proton import DeploymentStatus, Provisioning
from baryon.store.jobs import JobKind
from baryon.store.tables import Deployment, Environment

log = logging.getLogger(__name__)


@dataclass
class Work:
    """Everything the slow part needs, read up front so no transaction stays open."""

    deployment_id: str
    operation: DeploymentOperation
    resource: ResourceIdentity  # role and tags filled in once the resource is read
    cancel_requested: bool
    # Set for CUSTOMER_MANAGED environments: their outputs are their spec; nothing deploys.
    spec_outputs: dict[str, str] | None = None
    target: RenderTarget | None = None  # what a deploy renders (None for a delete)
    # What a RECOVER deployment leaves as it is while continuing the failed rollback.
    resources_to_skip: tuple[str, ...] = ()
    # Self-managed provisioning (engine/pull_requests.py): where a deploy may go as a pull
    # request (decided once the engine is rendered), and where a delete marks the files.
    self_managed: SelfManaged | None = None
    deletion: PullRequestTarget | None = None
    # Started from an approved fleet preview: its kept change (domain/fleet_previews.py).
    prepared: fleet_previews.PreparedChange | None = None


def run(context: JobContext, payload: dict[str, Any]) -> None:
    runtime = context.runtime
    deployment_id = payload["deployment_id"]
    with runtime.db.session() as session:
        deployment = session.get(Deployment, deployment_id)
        if deployment is None or deployment.status in deployments.TERMINAL:
            return
        if pull_requests.handed_off(session, deployment.id):
            return  # a re-run after the pull request was recorded: its watcher has it now
        try:
            work = _prepare(session, runtime, deployment)
        except (RenderError, BundleError) as exc:
            work = None
            failure, logged = str(exc), f"Rendering failed: {exc}"
        except ConnectionUnavailable as exc:
            work = None
            failure = logged = str(exc)
    io = DatabaseDeploymentIO(
        runtime,
        deployment_id,
        context.lease_lost,
        cancel_requested=work.cancel_requested if work is not None else None,
    )
    if work is None:
        io.log(logged)
        failed = outcomes.Result(DeploymentStatus.FAILED, failure)
        _record(runtime, deployment_id, failed, io, context)
        return
    try:
        result = _execute(runtime, work, io)
    except BaseException:
        _flush_before_failing(io)
        raise
    _record(runtime, deployment_id, result, io, context)


def _flush_before_failing(io: DatabaseDeploymentIO) -> None:
    """The lines logged before an exception (a lost lease, a crash) stay in the log; a failure
    to write them must not hide the exception itself."""
    try:
        io.flush()
    except Exception:
        log.exception("could not write the log lines of deployment %s", io.deployment_id)


def _execute(
    runtime: WorkerRuntime, work: Work, io: DatabaseDeploymentIO
) -> outcomes.Result | pull_requests.Opened:
    if work.cancel_requested:
        io.log("Cancelled before any change was made.")
        return outcomes.Result(DeploymentStatus.CANCELLED, "Cancelled before any change was made.")
    if work.spec_outputs is not None:
        io.log("Customer-managed environment: outputs come from the spec; nothing to deploy.")
        return outcomes.Result(DeploymentStatus.SUCCEEDED, outputs=work.spec_outputs)
    if work.operation == DeploymentOperation.DELETE:
        if work.deletion is not None:
            try:
                marker = _pull_request_provisioner(runtime, work.deletion)
            except DomainError as exc:
                io.log(str(exc))
                return outcomes.Result(DeploymentStatus.FAILED, str(exc))
            return _result(marker.destroy(work.resource, io))
        parts = runtime.provisioner_parts
        return _result(provisioning.destroy(work.resource, runtime.settings, io, parts))
    if work.operation == DeploymentOperation.RECOVER:
        outcome = provisioning.continue_rollback(
            work.resource, work.resources_to_skip, runtime.settings, io, runtime.provisioner_parts
        )
        return _result(outcome)
    assert work.target is not None
    if work.prepared is not None and work.prepared.stale is not None:
        message = f"This deployment cannot run as approved: {work.prepared.stale}."
        io.log(message)
        return outcomes.Result(DeploymentStatus.FAILED, message)
    try:
        rendered = work.target.render()
    except RenderError as exc:
        io.log(f"Rendering failed: {exc}")
        return outcomes.Result(DeploymentStatus.FAILED, str(exc))
    section = provisioning.provisioned_section(rendered, work.resource.kind)
    pull_request = work.self_managed.target(section.engine) if work.self_managed else None
    provisioner: Provisioner | None
    if pull_request is not None:
        if section.engine != ProvisioningEngine.TERRAFORM:
            message = (
                "Self-managed provisioning (a provisioning repository) takes Terraform "
                f"templates only; this resource's template renders {section.engine.value}."
            )
            io.log(message)
            return outcomes.Result(DeploymentStatus.FAILED, message)
        try:
            provisioner = _pull_request_provisioner(runtime, pull_request)
        except DomainError as exc:
            io.log(str(exc))
            return outcomes.Result(DeploymentStatus.FAILED, str(exc))
    else:
        provisioner = provisioner_for(
            section.engine,
            runtime.settings,
            runtime.provisioner_parts,
            work.resource.account_role_arn,
        )
    if provisioner is None:
        message = unsupported_message(section.engine)
        io.log(message)
        return outcomes.Result(DeploymentStatus.FAILED, message)
    resource = replace(
        work.resource,
        role_arn=work.target.role_arn,
        build_role_arn=work.target.build_role_arn,
        tags=dict(work.target.proton_tags),
    )
    exact = _exact(work.prepared, section.engine)
    if isinstance(exact, str):
        io.log(exact)
        return outcomes.Result(DeploymentStatus.FAILED, exact)
    request = DeployRequest(section, resource, request_token=work.deployment_id, exact=exact)
    return _result(provisioner.deploy(request, io))


def _exact(
    prepared: fleet_previews.PreparedChange | None, engine: ProvisioningEngine
) -> ExactChange | str | None:
    """The approved preview's change for the provisioner, or why it cannot be carried out."""
    if prepared is None or (prepared.change_set_id is None and prepared.plan is None):
        return None  # no preview, or one that changes nothing in the cloud
    if prepared.engine != engine.value:
        return (
            f"The approved preview planned a {prepared.engine} change, but this resource now "
            f"renders {engine.value}; preview the change again."
        )
    return ExactChange(engine, change_set_id=prepared.change_set_id, plan=prepared.plan)


def _pull_request_provisioner(runtime: WorkerRuntime, target: PullRequestTarget) -> Provisioner:
    """Raises the domain's NotFound when the repository (or its connection) is gone."""
    repository = target.repository
    access = runtime.git_access.repository(repository.provider, repository.name)
    return pull_request_provisioner(access, target)


def _result(outcome: Outcome) -> outcomes.Result | pull_requests.Opened:
    if outcome.status == OutcomeStatus.HANDED_OFF:
        handoff = outcome.handoff
        assert handoff is not None
        return pull_requests.Opened(
            repository_provider=handoff.repository_provider,
            repository_name=handoff.repository_name,
            base_branch=handoff.base_branch,
            head_branch=handoff.head_branch,
            head_sha=handoff.head_sha,
            number=handoff.number,
            url=handoff.url,
            deletion=handoff.deletion,
            waiting_for=handoff.waiting_for,
        )
    return outcomes.Result(
        # The provisioner's outcomes are named as the deployment statuses they end in.
        DeploymentStatus(outcome.status),
        outcome.message,
        dict(outcome.outputs),
        [Provisioned(r.name, r.identifier, r.engine, r.simulated) for r in outcome.resources],
        rollback_failed=outcome.rollback_failed,
    )


def _record(
    runtime: WorkerRuntime,
    deployment_id: str,
    result: outcomes.Result | pull_requests.Opened,
    io: DatabaseDeploymentIO | None = None,
    context: JobContext | None = None,
) -> None:
    """``io``: its log lines not yet written go in the outcome's transaction; ``context``: the
    job ends there too."""
    with runtime.db.session(write=True) as session:
        if io is not None:
            io.write_pending(session)
        if isinstance(result, pull_requests.Opened):
            # Handed off: the deployment stays in progress, its pull request watched.
            pull_requests.record_opened(session, deployment_id, result, datetime.now(UTC))
        else:
            outcomes.record(session, runtime.arns, deployment_id, result, datetime.now(UTC))
        if context is not None:
            context.finish_in(session)
    runtime.job_wakeup.set()  # a finished instance may release its service's pipeline


def give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    message = f"The deployment could not complete after {context.attempt} attempts: {error}"
    result = outcomes.Result(DeploymentStatus.FAILED, message)
    _record(context.runtime, payload["deployment_id"], result)


# --- reading what a deployment needs --------------------------------------------------------


def _prepare(session: Session, runtime: WorkerRuntime, deployment: Deployment) -> Work:
    # An adopted stack is the resource's for every operation: deploy, delete and recovery.
    adopted = adoption.adopted_stack(session, deployment.target_arn)
    # Held while the reads below run: the session's identity map keeps a row only while
    # someone refers to it, and the render and the provisioning repository need it again.
    environment = provisioning.deployment_environment(session, deployment)
    work = Work(
        deployment_id=deployment.id,
        operation=DeploymentOperation(deployment.operation),
        resource=provisioning.resource_identity(
            deployment,
            runtime.settings,
            stack_name=adopted.stack_name if adopted else None,
            # Raises ConnectionUnavailable: nothing happens in an account no longer connected.
            account=provisioning.account_of(session, environment),
        ),
        cancel_requested=deployment.cancel_requested,
    )
    resource = outcomes.resource_of(session, deployment)
    if resource is None or work.cancel_requested:
        return work
    if deployment.operation == DeploymentOperation.DELETE:
        if (
            isinstance(resource, Environment)
            and resource.provisioning == Provisioning.CUSTOMER_MANAGED
        ):
            work.spec_outputs = {}
        else:
            work.deletion = deletion_target(
                session, runtime.arns, deployment, work.resource.kind, resource
            )
        return work
    plan = deployments.plan_of(deployment)
    if isinstance(plan, RecoveryPlan):
        work.resources_to_skip = plan.resources_to_skip
        return work
    # The same reading a preview does (domain.render_target), so both render alike.
    target = render_target.target_for(
        session,
        runtime.settings,
        runtime.arns,
        resource,
        deployment.target_arn,
        plan,
    )
    if isinstance(target, SpecOutputs):
        work.spec_outputs = dict(target.outputs)
    else:
        work.target = target
        work.prepared = fleet_previews.prepared_change(session, deployment)
        work.self_managed = self_managed(
            session, runtime.arns, deployment, work.resource.kind, resource, plan, environment
        )
    return work


register_job(JobKind.DEPLOY, run, give_up)


# --- held for approval ----------------------------------------------------------------------


def expire_approval(context: JobContext, payload: dict[str, Any]) -> None:
    """A held deployment's approval ran out (domain/approval_gate.py schedules this job at its
    expiry): it ends CANCELLED unless someone decided first."""
    runtime = context.runtime
    with runtime.db.session(write=True) as session:
        approvals.expire(session, runtime.arns, payload["deployment_id"], datetime.now(UTC))


def _expiry_failed(context: JobContext, payload: dict[str, Any], error: str) -> None:
    # The approval stays pending: approving it is refused once past its expiry, and the
    # deployment can still be cancelled, so nothing is stuck for good.
    log.error("Could not expire the approval of %s: %s", payload["deployment_id"], error)


register_job(JobKind.APPROVAL_EXPIRY, expire_approval, _expiry_failed)
