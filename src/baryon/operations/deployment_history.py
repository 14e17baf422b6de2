"""Read models of deployments: the history (filtered, newest first, by page), one deployment
with its events, outputs and what it deployed, and what a resource deployed lately.

Rows are returned detached from their session; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from baryon.domain import deployments, outcomes, recovery
from baryon.operations.context import RequestContext
from baryon.operations.fleet import FAILED_STATUSES
from baryon.operations.resource_keys import ENVIRONMENT, INSTANCE, ResourceKey, target_of
from baryon.operations.resource_lists import State
from baryon.store.jobs import JobKind, JobStatus
from baryon.store.tables import (
    Deployment,
    DeploymentEvent,
    Environment,
    Job,
    ProvisionedResourceRow,
    Service,
    ServiceInstance,
    ServicePipeline,
)

MAX_EVENTS = 1000
PAGE_SIZE = 50

# The history's filters, by the name a page gives them.
_FILTER_COLUMNS = {
    "environment": Deployment.environment_name,
    "service": Deployment.service_name,
    "instance": Deployment.service_instance_name,
    "type": Deployment.target_type,
}
FILTERS = tuple(_FILTER_COLUMNS)


@dataclass(frozen=True)
class HistoryPage:
    rows: list[Deployment]  # newest first
    more: bool  # whether a next page has any


@dataclass(frozen=True)
class Existing:
    """Which of the resources a page of history names still exist: a deleted one is shown
    by name, without a link to a page that would answer 404."""

    environments: frozenset[str]
    services: frozenset[str]
    instances: frozenset[tuple[str, str]]  # (service, instance)
    pipelines: frozenset[str]  # by service

    def environment(self, name: str | None) -> bool:
        return name in self.environments

    def service(self, name: str | None) -> bool:
        return name in self.services

    def instance(self, service: str | None, name: str | None) -> bool:
        return (service, name) in self.instances

    def pipeline(self, service: str | None) -> bool:
        return service in self.pipelines

    def target(self, deployment: Deployment) -> bool:
        """Whether the resource ``deployment`` deployed still exists."""
        key = target_of(deployment)
        if key.kind == ENVIRONMENT:
            return self.environment(key.name)
        if key.kind == INSTANCE:
            return self.instance(key.service, key.name)
        return self.pipeline(key.service)


@dataclass(frozen=True)
class History:
    rows: list[Deployment]  # newest first
    next_token: str | None
    existing: Existing
    queued: frozenset[str]  # ids of the deployments still waiting for a worker


def deployment_history(
    ctx: RequestContext, filters: dict[str, str], state: State | None, token: str | None
) -> History:
    """One page of the deployments matching ``filters`` (see FILTERS) and ``state``, newest
    first, by keyset (a page token from the previous page)."""
    stmt = _filtered(select(Deployment), filters)
    if state is State.FAILED:
        stmt = stmt.where(Deployment.status.in_(FAILED_STATUSES))
    elif state is State.DEPLOYING:
        stmt = stmt.where(Deployment.status.in_(deployments.ACTIVE))
    elif state is State.DEPLOYED:
        stmt = stmt.where(Deployment.status.not_in([*FAILED_STATUSES, *deployments.ACTIVE]))
    scope = {**{key: filters.get(key, "") for key in FILTERS}, "status": str(state or "")}
    with ctx.db.session() as session:
        found, next_token = ctx.page(
            session,
            stmt,
            [Deployment.created_at, Deployment.id],
            {"nextToken": token, "maxResults": PAGE_SIZE},
            scope=scope,
            descending=True,
        )
        rows = [row[0] for row in found]
        return History(rows, next_token, existing(session, rows), queued(session, rows))


def existing(session: Session, rows: list[Deployment]) -> Existing:
    """Four small queries for a page, whatever its size."""
    environments = {row.environment_name for row in rows if row.environment_name}
    services = {row.service_name for row in rows if row.service_name}
    return Existing(
        environments=frozenset(
            session.scalars(select(Environment.name).where(Environment.name.in_(environments)))
        ),
        services=frozenset(session.scalars(select(Service.name).where(Service.name.in_(services)))),
        instances=frozenset(
            session.execute(
                select(ServiceInstance.service_name, ServiceInstance.name).where(
                    ServiceInstance.service_name.in_(services)
                )
            ).tuples()
        ),
        pipelines=frozenset(
            session.scalars(
                select(Service.name)
                .join(ServicePipeline, ServicePipeline.service_id == Service.id)
                .where(Service.name.in_(services))
            )
        ),
    )


def queued(session: Session, rows: list[Deployment]) -> frozenset[str]:
    """The deployments in progress whose job no worker has claimed yet."""
    active = [row.id for row in rows if row.status in deployments.ACTIVE]
    if not active:
        return frozenset()
    deployment_id = Job.payload["deployment_id"].as_string()
    return frozenset(
        session.scalars(
            select(deployment_id).where(
                Job.kind == JobKind.DEPLOY,
                Job.status == JobStatus.QUEUED,
                deployment_id.in_(active),
            )
        )
    )


def _filtered(stmt: Any, filters: dict[str, str]) -> Any:
    for key, column in _FILTER_COLUMNS.items():
        if filters.get(key):
            stmt = stmt.where(column == filters[key])
    return stmt


def history_page(session: Session, filters: dict[str, str], page: int) -> HistoryPage:
    stmt = _filtered(select(Deployment), filters)
    rows = list(
        session.scalars(
            stmt.order_by(Deployment.created_at.desc(), Deployment.id.desc())
            .offset(page * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    return HistoryPage(rows[:PAGE_SIZE], len(rows) > PAGE_SIZE)


def deployments_of(session: Session, arn: str, limit: int = 10) -> list[Deployment]:
    return list(
        session.scalars(
            select(Deployment)
            .where(Deployment.target_arn == arn)
            .order_by(Deployment.created_at.desc(), Deployment.id.desc())
            .limit(limit)
        )
    )


def active_deployments(session: Session, limit: int = 20) -> list[Deployment]:
    return list(
        session.scalars(
            select(Deployment)
            .where(Deployment.status.in_(deployments.ACTIVE))
            .order_by(Deployment.created_at.desc())
            .limit(limit)
        )
    )


def events_of(session: Session, deployment_id: str) -> tuple[list[DeploymentEvent], int]:
    """The last MAX_EVENTS events in order, and how many there are in all."""
    total = (
        session.scalar(select(func.count()).where(DeploymentEvent.deployment_id == deployment_id))
        or 0
    )
    rows = list(
        session.scalars(
            select(DeploymentEvent)
            .where(DeploymentEvent.deployment_id == deployment_id)
            .order_by(DeploymentEvent.id.desc())
            .limit(MAX_EVENTS)
        )
    )
    rows.reverse()
    return rows, total


def provisioned_resources(session: Session, arn: str) -> list[ProvisionedResourceRow]:
    return list(
        session.scalars(
            select(ProvisionedResourceRow)
            .where(ProvisionedResourceRow.resource_arn == arn)
            .order_by(ProvisionedResourceRow.name)
        )
    )


@dataclass(frozen=True)
class DeploymentDetail:
    deployment: Deployment
    events: list[DeploymentEvent]  # the last MAX_EVENTS
    hidden_events: int  # how many earlier ones are not in ``events``
    outputs: dict[str, str]
    target: ResourceKey
    target_exists: bool  # False once the resource it deployed is gone
    retryable: bool  # failed, and RetryDeployment would run it again now
    queued: bool  # in progress, but no worker has claimed its job yet
    initial_state: Any  # what the resource was before (its one entry), if recorded
    target_state: Any  # what it was to become

    @property
    def active(self) -> bool:
        return self.deployment.status in deployments.ACTIVE


def deployment_detail(ctx: RequestContext, deployment_id: str) -> DeploymentDetail:
    with ctx.db.session() as session:
        deployment = deployments.find_deployment(session, deployment_id)
        events, total = events_of(session, deployment.id)
        resource = outcomes.resource_of(session, deployment)
        again = recovery.options(session, resource).retryable if resource is not None else None
        return DeploymentDetail(
            deployment=deployment,
            events=events,
            hidden_events=total - len(events),
            outputs=deployments.outputs_of(session, deployment.id),
            target=target_of(deployment),
            target_exists=resource is not None,
            retryable=again is not None and again.id == deployment.id,
            queued=bool(queued(session, [deployment])),
            initial_state=next(iter((deployment.initial_state or {}).values()), None),
            target_state=next(iter((deployment.target_state or {}).values()), None),
        )
