"""Read models of deployments: the history (filtered, newest first, by page), one deployment
with its events, outputs and what it deployed, and what a resource deployed lately.

Rows are returned detached from their session; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from baryon.domain import deployments, outcomes
from baryon.operations.context import RequestContext
from baryon.operations.resource_keys import ResourceKey, target_of
from baryon.store.tables import Deployment, DeploymentEvent, ProvisionedResourceRow

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


def deployment_history(ctx: RequestContext, filters: dict[str, str], page: int) -> HistoryPage:
    """Page ``page`` (from 0) of the deployments matching ``filters`` (see FILTERS)."""
    with ctx.db.session() as session:
        return history_page(session, filters, page)


def history_page(session: Session, filters: dict[str, str], page: int) -> HistoryPage:
    stmt = select(Deployment)
    for key, column in _FILTER_COLUMNS.items():
        if filters.get(key):
            stmt = stmt.where(column == filters[key])
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
        return DeploymentDetail(
            deployment=deployment,
            events=events,
            hidden_events=total - len(events),
            outputs=deployments.outputs_of(session, deployment.id),
            target=target_of(deployment),
            target_exists=resource is not None,
            initial_state=next(iter((deployment.initial_state or {}).values()), None),
            target_state=next(iter((deployment.target_state or {}).values()), None),
        )
