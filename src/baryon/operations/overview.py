"""The read model of the portal's home page: how much there is, what failed, what is
deploying now and what deployed last."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from baryon.domain import deployments
from baryon.domain.templates import TemplateKind
from baryon.operations.context import RequestContext
from baryon.operations.deployment_history import (
    Existing,
    active_deployments,
    existing,
    history_page,
)
from baryon.operations.fleet import FAILED_STATUSES
from baryon.store.tables import (
    Deployment,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
)

RECENT = 10
ACTIVE_SHOWN = 20  # deploying now: the newest this many; the page links to the rest


@dataclass(frozen=True)
class Summary:
    environment_templates: int
    service_templates: int
    environments: int
    services: int
    instances: int
    pipelines: int
    failed: int
    busy: int


@dataclass(frozen=True)
class Overview:
    summary: Summary
    active: list[Deployment]  # deploying now, newest first, at most ACTIVE_SHOWN
    active_more: bool  # more than ACTIVE_SHOWN are deploying
    recent: list[Deployment]  # the latest RECENT deployments
    existing: Existing  # which of the resources they name still exist

    @property
    def busy(self) -> bool:
        return bool(self.active)


def overview(ctx: RequestContext) -> Overview:
    with ctx.db.session() as session:
        active = active_deployments(session, limit=ACTIVE_SHOWN + 1)
        recent = history_page(session, {}, 0).rows[:RECENT]
        return Overview(
            summary=_summary(session),
            active=active[:ACTIVE_SHOWN],
            active_more=len(active) > ACTIVE_SHOWN,
            recent=recent,
            existing=existing(session, recent),
        )


def _summary(session: Session) -> Summary:
    def count(stmt: Any) -> int:
        return session.scalar(stmt) or 0

    failed = 0
    busy = 0
    for model in (Environment, ServiceInstance, ServicePipeline):
        failed += count(
            select(func.count())
            .select_from(model)
            .where(model.deployment_status.in_(FAILED_STATUSES))
        )
        busy += count(
            select(func.count())
            .select_from(model)
            .where(model.deployment_status.in_(deployments.ACTIVE))
        )
    return Summary(
        environment_templates=count(
            select(func.count()).where(Template.kind == TemplateKind.ENVIRONMENT.value)
        ),
        service_templates=count(
            select(func.count()).where(Template.kind == TemplateKind.SERVICE.value)
        ),
        environments=count(select(func.count()).select_from(Environment)),
        services=count(select(func.count()).select_from(Service)),
        instances=count(select(func.count()).select_from(ServiceInstance)),
        pipelines=count(select(func.count()).select_from(ServicePipeline)),
        failed=failed,
        busy=busy,
    )
