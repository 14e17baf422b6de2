"""Read-only questions the pages ask the store: what the catalog holds, how far resources are
behind, what a deployment did. Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from baryon.domain import deployments, fleet
from baryon.domain.template_versions import PUBLISHED
from baryon.domain.templates import TemplateKind, recommended_minors, recommended_versions
from baryon.store.tables import (
    Deployment,
    DeploymentEvent,
    Environment,
    ProvisionedResourceRow,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
    TemplateVersion,
)

FAILED_STATUSES = (deployments.FAILED, deployments.DELETE_FAILED)
MAX_EVENTS = 1000


# --- the catalog ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateRow:
    template: Template
    recommended: str | None
    versions: int
    published: int


def catalog(session: Session) -> list[TemplateRow]:
    templates = list(session.scalars(select(Template).order_by(Template.kind, Template.name)))
    recommended = recommended_versions(session, [t.id for t in templates])
    counts = {
        template_id: (total, published or 0)
        for template_id, total, published in session.execute(
            select(
                TemplateVersion.template_id,
                func.count(),
                func.sum(case((TemplateVersion.status == PUBLISHED, 1), else_=0)),
            ).group_by(TemplateVersion.template_id)
        )
    }
    return [TemplateRow(t, recommended.get(t.id), *counts.get(t.id, (0, 0))) for t in templates]


@dataclass(frozen=True)
class VersionRow:
    version: TemplateVersion
    recommended_in_major: bool  # the recommended minor of its major version
    recommended: bool  # the template's recommended version


def versions_of(session: Session, template: Template) -> list[VersionRow]:
    minors = recommended_minors(session, template.id)
    top = max(minors.items()) if minors else None
    rows = session.scalars(
        select(TemplateVersion)
        .where(TemplateVersion.template_id == template.id)
        .order_by(TemplateVersion.major.desc(), TemplateVersion.minor.desc())
    )
    return [
        VersionRow(
            row,
            minors.get(row.major) == row.minor,
            top == (row.major, row.minor),
        )
        for row in rows
    ]


def published_versions(session: Session, template: Template) -> list[TemplateVersion]:
    return list(
        session.scalars(
            select(TemplateVersion)
            .where(TemplateVersion.template_id == template.id, TemplateVersion.status == PUBLISHED)
            .order_by(TemplateVersion.major.desc(), TemplateVersion.minor.desc())
        )
    )


# --- where a resource stands ----------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """A deployed resource's version against its template's recommended versions."""

    status: str  # UP_TO_DATE | BEHIND_MINOR | BEHIND_MAJOR
    minor_target: tuple[int, int] | None  # the recommended minor of its major, if newer
    major_target: tuple[int, int] | None  # the recommended version of a newer major


def standing(session: Session, template_id: int, major: int, minor: int) -> Standing:
    """Same rules as domain.fleet, for one resource."""
    minors = recommended_minors(session, template_id)
    minor_target = None
    if minors.get(major) is not None and minors[major] > minor:
        minor_target = (major, minors[major])
    newest = max(minors) if minors else None
    major_target = (newest, minors[newest]) if newest is not None and newest > major else None
    if major_target is not None:
        status = fleet.BEHIND_MAJOR
    elif minor_target is not None:
        status = fleet.BEHIND_MINOR
    else:
        status = fleet.UP_TO_DATE
    return Standing(status, minor_target, major_target)


def environments_with_status(session: Session) -> list[tuple[Environment, str]]:
    stmt, status = fleet.with_version_status(
        select(Environment),
        Environment.template_id,
        Environment.template_major,
        Environment.template_minor,
    )
    return [
        (row, state)
        for row, state in session.execute(stmt.add_columns(status).order_by(Environment.name))
    ]


def instances_with_status(
    session: Session, *, service_id: int | None = None, environment_id: int | None = None
) -> list[tuple[ServiceInstance, str]]:
    stmt, status = fleet.with_version_status(
        select(ServiceInstance),
        ServiceInstance.template_id,
        ServiceInstance.template_major,
        ServiceInstance.template_minor,
    )
    if service_id is not None:
        stmt = stmt.where(ServiceInstance.service_id == service_id)
    if environment_id is not None:
        stmt = stmt.where(ServiceInstance.environment_id == environment_id)
    stmt = stmt.add_columns(status).order_by(ServiceInstance.service_name, ServiceInstance.name)
    return [(row, state) for row, state in session.execute(stmt)]


@dataclass(frozen=True)
class ServiceRow:
    service: Service
    instances: int
    busy: bool


def services_overview(session: Session) -> list[ServiceRow]:
    counts = dict(
        session.execute(
            select(ServiceInstance.service_id, func.count()).group_by(ServiceInstance.service_id)
        ).all()
    )
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


def compatible_environments(session: Session, version: TemplateVersion) -> list[Environment]:
    """Environments a service template version can put instances in (deployed ones first)."""
    wanted = {
        (item["templateName"], int(item["majorVersion"]))
        for item in version.compatible_environment_templates or []
    }
    rows = session.scalars(select(Environment).order_by(Environment.name))
    return [row for row in rows if (row.template_name, row.template_major) in wanted]


# --- the fleet ------------------------------------------------------------------------------


@dataclass
class FleetCounts:
    total: int = 0
    up_to_date: int = 0
    behind_minor: int = 0
    behind_major: int = 0
    failed: int = 0
    busy: int = 0


@dataclass
class FleetRow:
    template: Template
    recommended: str | None
    resource_kind: str  # environment | instance | pipeline
    counts: FleetCounts
    # Set on a template's first row only: the one upgrade action covers all its resources.
    upgrade_minor: int = 0
    upgrade_major: int = 0


_RESOURCE_WORDS = {
    "environment": "environments",
    "instance": "service instances",
    "pipeline": "pipelines",
}


def resource_words(kind: str) -> str:
    return _RESOURCE_WORDS[kind]


def _fleet_counts(
    session: Session, base: Any, model: Any, template_id: Any
) -> dict[int, FleetCounts]:
    stmt, status = fleet.with_version_status(
        base, template_id, model.template_major, model.template_minor
    )
    failed = case((model.deployment_status.in_(FAILED_STATUSES), 1), else_=0)
    busy = case((model.deployment_status.in_(deployments.ACTIVE), 1), else_=0)
    rows = stmt.add_columns(
        template_id.label("tid"),
        status.label("vstatus"),
        failed.label("failed"),
        busy.label("busy"),
    ).subquery()
    result: dict[int, FleetCounts] = {}
    for tid, state, count, failures, busy_count in session.execute(
        select(
            rows.c.tid,
            rows.c.vstatus,
            func.count(),
            func.sum(rows.c.failed),
            func.sum(rows.c.busy),
        ).group_by(rows.c.tid, rows.c.vstatus)
    ):
        counts = result.setdefault(tid, FleetCounts())
        counts.total += count
        counts.failed += int(failures or 0)
        counts.busy += int(busy_count or 0)
        if state == fleet.UP_TO_DATE:
            counts.up_to_date += count
        elif state == fleet.BEHIND_MINOR:
            counts.behind_minor += count
        elif state == fleet.BEHIND_MAJOR:
            counts.behind_major += count
    return result


def fleet_rows(session: Session) -> list[FleetRow]:
    """Per template (and, for service templates, per instances and pipelines)."""
    templates = list(session.scalars(select(Template).order_by(Template.kind, Template.name)))
    recommended = recommended_versions(session, [t.id for t in templates])
    environments = _fleet_counts(
        session, select(Environment.id), Environment, Environment.template_id
    )
    instances = _fleet_counts(
        session, select(ServiceInstance.id), ServiceInstance, ServiceInstance.template_id
    )
    pipelines = _fleet_counts(
        session,
        select(ServicePipeline.id).join(Service, Service.id == ServicePipeline.service_id),
        ServicePipeline,
        Service.template_id,
    )
    rows = []
    for template in templates:
        if template.kind == TemplateKind.ENVIRONMENT.value:
            kinds = [("environment", environments)]
        else:
            kinds = [("instance", instances), ("pipeline", pipelines)]
        own = [
            FleetRow(
                template,
                recommended.get(template.id),
                kind,
                counts.get(template.id, FleetCounts()),
            )
            for kind, counts in kinds
            # Most service templates never had a pipeline: no empty row for them.
            if kind != "pipeline" or template.id in counts
        ]
        own[0].upgrade_minor = sum(row.counts.behind_minor for row in own)
        own[0].upgrade_major = sum(row.counts.behind_major for row in own)
        rows.extend(own)
    return rows


@dataclass(frozen=True)
class Outdated:
    kind: str  # environment | instance | pipeline
    name: str  # environment or instance name; service name for a pipeline
    service: str | None
    major: int
    minor: int
    deployment_status: str


def outdated(session: Session, template: Template, status: str) -> list[Outdated]:
    """The resources of ``template`` with version status ``status`` (BEHIND_MINOR/MAJOR)."""
    found: list[Outdated] = []
    if template.kind == TemplateKind.ENVIRONMENT.value:
        stmt, state = fleet.with_version_status(
            select(Environment),
            Environment.template_id,
            Environment.template_major,
            Environment.template_minor,
        )
        stmt = stmt.where(Environment.template_id == template.id, state == status)
        for env in session.scalars(stmt.order_by(Environment.name)):
            found.append(
                Outdated(
                    "environment",
                    env.name,
                    None,
                    env.template_major,
                    env.template_minor,
                    env.deployment_status,
                )
            )
        return found
    stmt, state = fleet.with_version_status(
        select(ServiceInstance),
        ServiceInstance.template_id,
        ServiceInstance.template_major,
        ServiceInstance.template_minor,
    )
    stmt = stmt.where(ServiceInstance.template_id == template.id, state == status)
    for instance in session.scalars(
        stmt.order_by(ServiceInstance.service_name, ServiceInstance.name)
    ):
        found.append(
            Outdated(
                "instance",
                instance.name,
                instance.service_name,
                instance.template_major,
                instance.template_minor,
                instance.deployment_status,
            )
        )
    stmt, state = fleet.with_version_status(
        select(ServicePipeline, Service.name).join(
            Service, Service.id == ServicePipeline.service_id
        ),
        Service.template_id,
        ServicePipeline.template_major,
        ServicePipeline.template_minor,
    )
    stmt = stmt.where(Service.template_id == template.id, state == status)
    for pipeline, service_name in session.execute(stmt.order_by(Service.name)):
        found.append(
            Outdated(
                "pipeline",
                service_name,
                service_name,
                pipeline.template_major,
                pipeline.template_minor,
                pipeline.deployment_status,
            )
        )
    return found


# --- deployments ----------------------------------------------------------------------------


PAGE_SIZE = 50


def deployment_history(
    session: Session, filters: dict[str, str], page: int
) -> tuple[list[Deployment], bool]:
    """Newest first; returns one page and whether there are more."""
    stmt = select(Deployment)
    columns = {
        "environment": Deployment.environment_name,
        "service": Deployment.service_name,
        "instance": Deployment.service_instance_name,
        "type": Deployment.target_type,
    }
    for key, column in columns.items():
        if filters.get(key):
            stmt = stmt.where(column == filters[key])
    rows = list(
        session.scalars(
            stmt.order_by(Deployment.created_at.desc(), Deployment.id.desc())
            .offset(page * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


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
class Summary:
    environment_templates: int
    service_templates: int
    environments: int
    services: int
    instances: int
    pipelines: int
    failed: int
    busy: int


def summary(session: Session) -> Summary:
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
