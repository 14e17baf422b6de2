"""Self-managed deployments on the worker side: what a deploy job needs to hand a resource
to its provisioning repository, and the PULL_REQUEST job that watches the pull request.

The job (one per deployment, enqueued when the pull request opens, by REPOSITORY_CHANGED,
by a cancel or a superseding deployment) looks at the pull request (a forge's API; on plain
git, whether the target branch contains the pushed commit, or the branch is gone), lets
domain/pull_requests.py settle what it saw and the timeouts, closes the pull request when the
deployment no longer waits on it, and looks again every settings.git_poll_seconds while it
is open or merged. The next look is enqueued in the transaction that records this one, so a
process killed at any point leaves either this job (its lease runs out and another worker
runs it) or the next one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from baryon.domain import pull_requests
from baryon.domain.arns import Arns
from baryon.domain.audit_changes import (
    PULL_REQUEST_CLOSED,
    PULL_REQUEST_MERGED,
    SystemChange,
    record_system_change,
)
from baryon.domain.deployments import Deployable
from baryon.domain.errors import DomainError
from baryon.domain.git import PullRequestStatus
from baryon.domain.plan import ComponentPlan, DeploymentPlan, TemplatePlan
from baryon.domain.pull_requests import Next, RepositoryBranchRef, Watched
from baryon.domain.templates import template_arn
from baryon.engine.handlers import JobContext, register_job
from baryon.engine.worker_runtime import WorkerRuntime
from baryon.git.errors import GitError
from baryon.git.forges.base import ForgeError, PullRequestState
from baryon.provisioners.base import ProvisioningEngine, ResourceKind
from baryon.provisioners.pull_request import ProvisioningRepository, PullRequestTarget
from baryon.provisioners.pull_request_files import ComponentMetadata, Metadata, ResourceMetadata
from baryon.provisioners.selection import self_managed_repository
from baryon.service_models.baryon import AuditDoor, AuditResult
from baryon.store import jobs
from baryon.store.jobs import JobKind
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

log = logging.getLogger(__name__)

_FORGE_STATES = {
    PullRequestState.OPEN: PullRequestStatus.OPEN,
    PullRequestState.MERGED: PullRequestStatus.MERGED,
    PullRequestState.CLOSED: PullRequestStatus.CLOSED,
}


# --- what a deploy job reads -----------------------------------------------------------------


@dataclass(frozen=True)
class SelfManaged:
    """What decides whether a deployment goes to a repository, read with the deployment;
    which repository depends on the rendered engine (``target``)."""

    kind: ResourceKind
    environment_repository: ProvisioningRepository | None
    pipeline_repository: ProvisioningRepository | None
    environment_name: str | None
    metadata: Metadata

    def target(self, engine: ProvisioningEngine) -> PullRequestTarget | None:
        repository = self_managed_repository(
            self.kind, engine, self.environment_repository, self.pipeline_repository
        )
        if repository is None:
            return None
        return PullRequestTarget(repository, self.environment_name, self.metadata)


def self_managed(
    session: Session,
    arns: Arns,
    deployment: Deployment,
    kind: ResourceKind,
    resource: Deployable,
    plan: DeploymentPlan,
    environment: Environment | None,
) -> SelfManaged | None:
    """For a deploy: None when neither the resource's environment (``environment``, the
    deployment's) nor (for a pipeline) the account has a provisioning repository."""
    environment_repository, pipeline_repository = pull_requests.provisioning_repositories(
        session, environment, pipeline=kind == ResourceKind.SERVICE_PIPELINE
    )
    if environment_repository is None and pipeline_repository is None:
        return None
    return SelfManaged(
        kind,
        _repository(environment_repository),
        _repository(pipeline_repository),
        _environment_of(kind, deployment),
        _metadata(session, arns, deployment, resource, plan),
    )


def deletion_target(
    session: Session, arns: Arns, deployment: Deployment, kind: ResourceKind, resource: Deployable
) -> PullRequestTarget | None:
    """For a delete: the repository the resource's files were proposed to, None when it never
    had a pull request (Baryon deployed it, and its provisioners delete it)."""
    repository = _repository(
        pull_requests.deleted_where_provisioned(session, deployment.target_arn)
    )
    if repository is None:
        return None
    return PullRequestTarget(
        repository,
        _environment_of(kind, deployment),
        _metadata(session, arns, deployment, resource, None),
    )


def _repository(ref: RepositoryBranchRef | None) -> ProvisioningRepository | None:
    return None if ref is None else ProvisioningRepository(ref.provider, ref.name, ref.branch)


def _environment_of(kind: ResourceKind, deployment: Deployment) -> str | None:
    if kind in (ResourceKind.SERVICE_INSTANCE, ResourceKind.COMPONENT):
        return deployment.environment_name
    return None


def _metadata(
    session: Session,
    arns: Arns,
    deployment: Deployment,
    resource: Deployable,
    plan: DeploymentPlan | None,
) -> Metadata:
    """``.proton/deployment-metadata.json``'s resource part: the version a deploy targets, or
    (a delete) the one the resource runs; a component's attachment likewise."""
    if isinstance(resource, Component):
        service, instance = resource.service_name, resource.service_instance_name
        if isinstance(plan, ComponentPlan):
            service, instance = plan.service_name, plan.service_instance_name
        return ComponentMetadata(
            arn=deployment.target_arn,
            environment_arn=arns.environment(deployment.environment_name),
            service_arn=arns.service(service) if service and instance else None,
            service_instance_arn=(
                arns.service_instance(service, instance) if service and instance else None
            ),
        )
    template: Template | None
    if isinstance(plan, TemplatePlan) and (
        version := session.get(TemplateVersion, plan.template_version_id)
    ):
        template = session.get(Template, version.template_id)
        major, minor = version.major, version.minor
    else:
        template = session.get(Template, _template_id(session, resource))
        major, minor = resource.template_major, resource.template_minor
    assert template is not None
    return ResourceMetadata(
        arn=deployment.target_arn,
        template_arn=template_arn(arns, template),
        template_major_version=str(major),
        template_minor_version=str(minor),
        environment_arn=(
            arns.environment(deployment.environment_name)
            if isinstance(resource, ServiceInstance)
            else None
        ),
    )


def _template_id(
    session: Session, resource: Environment | ServiceInstance | ServicePipeline
) -> int:
    if isinstance(resource, ServicePipeline):
        service = session.get(Service, resource.service_id)
        assert service is not None
        return service.template_id
    return resource.template_id


# --- the PULL_REQUEST job --------------------------------------------------------------------


def run(context: JobContext, payload: dict[str, Any]) -> None:
    runtime = context.runtime
    deployment_id = payload["deployment_id"]
    with runtime.db.session() as session:
        watched = pull_requests.watched(session, deployment_id)
    if watched is None:
        return
    observed = None if watched.withdraw else _observe(runtime, watched)
    now = datetime.now(UTC)
    settings = runtime.settings
    with runtime.db.session(write=True) as session:
        step = pull_requests.settle(
            session,
            runtime.arns,
            deployment_id,
            observed,
            now,
            timedelta(seconds=settings.pull_request_timeout_seconds),
        )
        if step == Next.WATCH:
            _look_again(session, deployment_id, now, settings.git_poll_seconds)
        _audit_outcome(context, session, watched, observed, now)
    if step == Next.WITHDRAW:
        _withdraw(runtime, watched)  # a failure is retried; give_up says so
        with runtime.db.session(write=True) as session:
            pull_requests.withdrawn(session, runtime.arns, deployment_id, datetime.now(UTC))
    runtime.job_wakeup.set()  # an ended instance may release its service's pipeline


# What a merge or a close that Baryon sees does: the deployment goes on or ends by it.
_OUTCOMES = {
    PullRequestStatus.MERGED: PULL_REQUEST_MERGED,
    PullRequestStatus.CLOSED: PULL_REQUEST_CLOSED,
}


def _audit_outcome(
    context: JobContext,
    session: Session,
    watched: Watched,
    observed: PullRequestStatus | None,
    now: datetime,
) -> None:
    operation = _OUTCOMES.get(observed) if observed is not None else None
    if operation is None or watched.withdraw or observed == watched.state:
        return  # nothing seen, or seen before: the deployment did not move by it
    runtime = context.runtime
    change = SystemChange(
        operation=operation,
        resources=(watched.resource_arn, runtime.arns.deployment(watched.deployment_id)),
        result=AuditResult.SUCCEEDED,
        door=AuditDoor.GIT,
    )
    region = runtime.settings.region
    record_system_change(session, change, region=region, job_id=context.job_id, now=now)


def give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    """Closing the pull request kept failing: the deployment is not left waiting for it (a
    cancel ends CANCELLED, saying to close it by hand). A look that kept failing is tried
    again later: the timeout still ends a deployment nobody reports on."""
    runtime = context.runtime
    deployment_id = payload["deployment_id"]
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        watched = pull_requests.watched(session, deployment_id)
        if watched is None:
            return
        if watched.withdraw:
            pull_requests.withdrawn(session, runtime.arns, deployment_id, now, failure=error)
        else:
            _look_again(session, deployment_id, now, runtime.settings.git_poll_seconds)


def _look_again(session: Session, deployment_id: str, now: datetime, seconds: float) -> None:
    later = now + timedelta(seconds=seconds)
    payload = {"deployment_id": deployment_id}
    jobs.enqueue_once(session, JobKind.PULL_REQUEST, payload, now, run_after=later)


def _observe(runtime: WorkerRuntime, watched: Watched) -> PullRequestStatus | None:
    """The pull request's state now; None when it cannot be seen (the timeouts still run)."""
    try:
        access = runtime.git_access.repository(watched.repository_provider, watched.repository_name)
        if access.forge is not None and watched.number is not None:
            found = access.forge.pull_request(watched.repository_name, watched.number)
            return _FORGE_STATES[found.state]
        remote = access.remote
        if remote.contains(watched.base_branch, watched.head_sha):
            return PullRequestStatus.MERGED
        if watched.head_branch not in remote.branches():
            return PullRequestStatus.CLOSED
        return PullRequestStatus.OPEN
    except (GitError, ForgeError, DomainError) as exc:
        log.warning("looking at %s failed: %s", watched.shown, exc)
        return None


def _withdraw(runtime: WorkerRuntime, watched: Watched) -> None:
    """Closes the pull request; on plain git, deletes the pushed branch (which is how a
    person closes one there)."""
    access = runtime.git_access.repository(watched.repository_provider, watched.repository_name)
    if access.forge is not None and watched.number is not None:
        access.forge.close_pull_request(watched.repository_name, watched.number)
    else:
        access.remote.delete_branch(watched.head_branch)


register_job(JobKind.PULL_REQUEST, run, give_up)
