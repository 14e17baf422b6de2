"""Read models of the fleet: where each resource stands against its template's recommended
versions, counts per template, and the outdated resources one upgrade action covers.

The version status of every row comes from ``domain.fleet`` (the same rules as the API's
GetResourcesSummary); rows are returned detached from their session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from baryon.domain import deployments, environments, fleet
from baryon.domain.fleet import VersionStatus
from baryon.domain.templates import (
    TemplateKind,
    find_template,
    recommended_minors,
    recommended_versions,
)
from baryon.operations.context import RequestContext
from baryon.operations.resource_keys import ENVIRONMENT, INSTANCE, PIPELINE
from baryon.service_models.proton import DeploymentStatus
from baryon.store.tables import (
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
)

FAILED_STATUSES = (DeploymentStatus.FAILED, DeploymentStatus.DELETE_FAILED)
BUSY_STATUSES = deployments.ACTIVE  # an upgrade skips a resource that is deploying


# --- where a resource stands ----------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """A deployed resource's version against its template's recommended versions."""

    status: VersionStatus
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
        status = VersionStatus.BEHIND_MAJOR
    elif minor_target is not None:
        status = VersionStatus.BEHIND_MINOR
    else:
        status = VersionStatus.UP_TO_DATE
    return Standing(status, minor_target, major_target)


def environments_with_status(ctx: RequestContext) -> list[tuple[Environment, str]]:
    """Every environment with its version status, by name."""
    with ctx.db.session() as session:
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


def environment_instances(
    ctx: RequestContext, environment_name: str
) -> list[tuple[ServiceInstance, str]]:
    """The service instances running in an environment, with their version status."""
    with ctx.db.session() as session:
        environment = environments.find_environment(session, environment_name)
        return instances_with_status(session, environment_id=environment.id)


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


# --- counts per template --------------------------------------------------------------------


@dataclass
class FleetCounts:
    """A resource behind a major whose own major has a newer minor counts in both
    ``behind_minor`` and ``behind_major``: either upgrade is open to it."""

    total: int = 0
    up_to_date: int = 0
    behind_minor: int = 0
    behind_major: int = 0
    failed: int = 0
    busy: int = 0
    # Up to date and not failed: what the progress bar fills with, so that a template whose
    # only resource failed is not shown as done.
    settled: int = 0


@dataclass
class FleetRow:
    template: Template
    recommended: str | None
    resource_kind: str  # environment | instance | pipeline
    counts: FleetCounts
    # On the first row of a template with several rows (instances and pipelines): what one
    # action for all of them moves. Each row's own buttons move exactly what the row counts.
    all_minor: int = 0
    all_major: int = 0


def _fleet_counts(
    session: Session, base: Any, model: Any, template_id: Any
) -> dict[int, FleetCounts]:
    stmt, status = fleet.with_version_status(
        base, template_id, model.template_major, model.template_minor
    )
    stmt, minor_newer = fleet.with_minor_available(
        stmt, template_id, model.template_major, model.template_minor
    )
    failed = case((model.deployment_status.in_(FAILED_STATUSES), 1), else_=0)
    busy = case((model.deployment_status.in_(deployments.ACTIVE), 1), else_=0)
    rows = stmt.add_columns(
        template_id.label("tid"),
        status.label("vstatus"),
        case((minor_newer, 1), else_=0).label("minor_newer"),
        failed.label("failed"),
        busy.label("busy"),
    ).subquery()
    result: dict[int, FleetCounts] = {}
    for tid, state, minor_count, count, failures, busy_count in session.execute(
        select(
            rows.c.tid,
            rows.c.vstatus,
            func.sum(rows.c.minor_newer),
            func.count(),
            func.sum(rows.c.failed),
            func.sum(rows.c.busy),
        ).group_by(rows.c.tid, rows.c.vstatus)
    ):
        counts = result.setdefault(tid, FleetCounts())
        counts.total += count
        counts.failed += int(failures or 0)
        counts.busy += int(busy_count or 0)
        counts.behind_minor += int(minor_count or 0)
        if state == VersionStatus.UP_TO_DATE:
            counts.up_to_date += count
            counts.settled += count - int(failures or 0)
        elif state == VersionStatus.BEHIND_MAJOR:
            counts.behind_major += count
    return result


def fleet_rows(ctx: RequestContext) -> list[FleetRow]:
    """Per template (and, for service templates, per instances and pipelines)."""
    with ctx.db.session() as session:
        return _fleet_rows(session)


def _fleet_rows(session: Session) -> list[FleetRow]:
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
            kinds = [(ENVIRONMENT, environments)]
        else:
            kinds = [(INSTANCE, instances), (PIPELINE, pipelines)]
        own = [
            FleetRow(
                template,
                recommended.get(template.id),
                kind,
                counts.get(template.id, FleetCounts()),
            )
            for kind, counts in kinds
            # Most service templates never had a pipeline: no empty row for them.
            if kind != PIPELINE or template.id in counts
        ]
        if len(own) > 1:
            own[0].all_minor = sum(row.counts.behind_minor for row in own)
            own[0].all_major = sum(row.counts.behind_major for row in own)
        rows.extend(own)
    return rows


# --- the outdated resources of one template -------------------------------------------------


@dataclass(frozen=True)
class Outdated:
    kind: str  # environment | instance | pipeline
    name: str  # environment or instance name; service name for a pipeline
    service: str | None
    major: int
    minor: int
    deployment_status: str


@dataclass(frozen=True)
class OutdatedFleet:
    template: Template
    items: list[Outdated]
    # Where each item would go, by (kind, service, name).
    targets: dict[tuple[str, str | None, str], Standing]


def outdated_fleet(
    ctx: RequestContext,
    kind: TemplateKind,
    template_name: str,
    status: VersionStatus,
    resource_kind: str | None = None,
) -> OutdatedFleet:
    """The resources of a template that an upgrade for ``status`` moves: BEHIND_MAJOR, the
    ones behind a major; BEHIND_MINOR, every one with a newer minor of its own major (also
    when it is behind a major). ``resource_kind`` keeps only environments, instances or
    pipelines (a fleet row's button)."""
    with ctx.db.session() as session:
        template = find_template(session, kind, template_name)
        items = [
            item
            for item in _outdated(session, template, status)
            if resource_kind is None or item.kind == resource_kind
        ]
        targets = {
            (item.kind, item.service, item.name): standing(
                session, template.id, item.major, item.minor
            )
            for item in items
        }
    return OutdatedFleet(template, items, targets)


def _behind(stmt: Any, status: VersionStatus, template_id: Any, major: Any, minor: Any) -> Any:
    """``stmt`` kept to the resources an upgrade for ``status`` moves."""
    if status == VersionStatus.BEHIND_MINOR:
        stmt, minor_newer = fleet.with_minor_available(stmt, template_id, major, minor)
        return stmt.where(minor_newer)
    stmt, state = fleet.with_version_status(stmt, template_id, major, minor)
    return stmt.where(state == status)


def _outdated(session: Session, template: Template, status: VersionStatus) -> list[Outdated]:
    found: list[Outdated] = []
    if template.kind == TemplateKind.ENVIRONMENT.value:
        stmt = _behind(
            select(Environment).where(Environment.template_id == template.id),
            status,
            Environment.template_id,
            Environment.template_major,
            Environment.template_minor,
        )
        for env in session.scalars(stmt.order_by(Environment.name)):
            found.append(
                Outdated(
                    ENVIRONMENT,
                    env.name,
                    None,
                    env.template_major,
                    env.template_minor,
                    env.deployment_status,
                )
            )
        return found
    stmt = _behind(
        select(ServiceInstance).where(ServiceInstance.template_id == template.id),
        status,
        ServiceInstance.template_id,
        ServiceInstance.template_major,
        ServiceInstance.template_minor,
    )
    for instance in session.scalars(
        stmt.order_by(ServiceInstance.service_name, ServiceInstance.name)
    ):
        found.append(
            Outdated(
                INSTANCE,
                instance.name,
                instance.service_name,
                instance.template_major,
                instance.template_minor,
                instance.deployment_status,
            )
        )
    stmt = _behind(
        select(ServicePipeline, Service.name)
        .join(Service, Service.id == ServicePipeline.service_id)
        .where(Service.template_id == template.id),
        status,
        Service.template_id,
        ServicePipeline.template_major,
        ServicePipeline.template_minor,
    )
    for pipeline, service_name in session.execute(stmt.order_by(Service.name)):
        found.append(
            Outdated(
                PIPELINE,
                service_name,
                service_name,
                pipeline.template_major,
                pipeline.template_minor,
                pipeline.deployment_status,
            )
        )
    return found
