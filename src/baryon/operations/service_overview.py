"""Read models of services: the list with instance counts, and one service with its
instances, its pipeline and where each stands."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from baryon.domain import deployments, services
from baryon.operations.context import RequestContext
from baryon.operations.deployment_history import history_page
from baryon.operations.fleet import Standing, instances_with_status, standing
from baryon.store import spec_texts
from baryon.store.tables import (
    Deployment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
)

_HISTORY_ON_SERVICE_PAGE = 10


@dataclass(frozen=True)
class ServiceRow:
    service: Service
    instances: int
    busy: bool


def services_overview(ctx: RequestContext) -> list[ServiceRow]:
    with ctx.db.session() as session:
        per_service = select(ServiceInstance.service_id, func.count()).group_by(
            ServiceInstance.service_id
        )
        counts: dict[int, int] = {
            service_id: count for service_id, count in session.execute(per_service).all()
        }
        busy_ids = set(
            session.scalars(
                select(ServiceInstance.service_id).where(
                    ServiceInstance.deployment_status.in_(deployments.ACTIVE)
                )
            )
        )
        rows = session.scalars(select(Service).order_by(Service.name))
        return [
            ServiceRow(row, counts.get(row.id, 0), row.operation is not None or row.id in busy_ids)
            for row in rows
        ]


@dataclass(frozen=True)
class ServiceDetail:
    service: Service
    template: Template
    instances: list[tuple[ServiceInstance, str]]  # with their version status
    pipeline: ServicePipeline | None
    pipeline_standing: Standing | None
    history: list[Deployment]  # the latest, newest first
    busy: bool  # the service, an instance or the pipeline is changing

    @property
    def can_change(self) -> bool:
        return self.service.status not in services.BUSY and not self.busy


def service_detail(ctx: RequestContext, name: str) -> ServiceDetail:
    with ctx.db.session() as session:
        service = services.find_service(session, name)
        template = session.get(Template, service.template_id)
        assert template is not None
        instances = instances_with_status(session, service_id=service.id)
        pipeline = services.pipeline_of(session, service)
        pipeline_standing = (
            standing(session, template.id, pipeline.template_major, pipeline.template_minor)
            if pipeline is not None
            else None
        )
        busy = (
            service.operation is not None
            or any(i.deployment_status in deployments.ACTIVE for i, _ in instances)
            or (pipeline is not None and pipeline.deployment_status in deployments.ACTIVE)
        )
        history = history_page(session, {"service": service.name}, 0).rows
        # The page shows the service's spec after the session has ended.
        spec_texts.read_texts(service)
        return ServiceDetail(
            service=service,
            template=template,
            instances=instances,
            pipeline=pipeline,
            pipeline_standing=pipeline_standing,
            history=history[:_HISTORY_ON_SERVICE_PAGE],
            busy=busy,
        )
