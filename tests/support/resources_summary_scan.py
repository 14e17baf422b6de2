"""GetResourcesSummary worked out by scanning every resource: how Baryon answered before the
counts were maintained (store/resource_counts.py). Kept as the oracle the maintained counts are
checked against (tests/domain/test_resource_counts.py) and as the baseline bench/scale.py times
beside them; never used by Baryon itself.

Each count is one aggregate query over the resources' own tables.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, case, func, select, union_all
from sqlalchemy.orm import Session

from baryon.domain import fleet
from baryon.domain.templates import TemplateKind
from baryon.service_models import proton
from baryon.service_models.proton import DeploymentStatus
from baryon.store.tables import (
    Component,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
)

_FAILED_DEPLOYMENTS = (DeploymentStatus.FAILED, DeploymentStatus.DELETE_FAILED)
_RANK = {
    fleet.VersionStatus.UP_TO_DATE: 0,
    fleet.VersionStatus.BEHIND_MINOR: 1,
    fleet.VersionStatus.BEHIND_MAJOR: 2,
}


def scanned_summary(session: Session) -> proton.CountsSummary:
    return {
        "environmentTemplates": _template_count(session, TemplateKind.ENVIRONMENT),
        "serviceTemplates": _template_count(session, TemplateKind.SERVICE),
        "environments": _deployable_counts(session, "environments"),
        "serviceInstances": _deployable_counts(session, "serviceInstances"),
        "pipelines": _deployable_counts(session, "pipelines"),
        "services": _service_counts(session),
        # Components have no template, so no staleness (as Proton documents it).
        "components": _component_counts(session),
    }


def _template_count(session: Session, kind: TemplateKind) -> proton.ResourceCountsSummary:
    total = session.scalar(select(func.count()).where(Template.kind == kind.value)) or 0
    return {"total": total}


def _deployable_counts(session: Session, kind: str) -> proton.ResourceCountsSummary:
    counted = session.execute(_deployable_statement(kind)).all()
    by_status = {status: int(count or 0) for status, count, _ in counted}
    return {
        "total": sum(by_status.values()),
        "failed": sum(int(failures or 0) for _, _, failures in counted),
        "upToDate": by_status.get(fleet.VersionStatus.UP_TO_DATE, 0),
        "behindMinor": by_status.get(fleet.VersionStatus.BEHIND_MINOR, 0),
        "behindMajor": by_status.get(fleet.VersionStatus.BEHIND_MAJOR, 0),
    }


@functools.cache
def _deployable_statement(kind: str) -> Select[Any]:
    """Rows of (version status, resources, failed resources) for one kind of resource."""
    model: Any
    if kind == "environments":
        model, base, template_id = Environment, select(Environment.id), Environment.template_id
    elif kind == "serviceInstances":
        model = ServiceInstance
        base, template_id = select(ServiceInstance.id), ServiceInstance.template_id
    else:
        model, template_id = ServicePipeline, Service.template_id
        base = select(ServicePipeline.id).join(Service, Service.id == ServicePipeline.service_id)
    failed = case((model.deployment_status.in_(_FAILED_DEPLOYMENTS), 1), else_=0)
    # Count per deployed version first: a fleet runs a handful of versions, so the version
    # status is then worked out for a few groups instead of for every row.
    groups = (
        base.with_only_columns(
            template_id.label("template_id"),
            model.template_major.label("major"),
            model.template_minor.label("minor"),
            func.count().label("resources"),
            func.sum(failed).label("failed"),
        )
        .group_by(template_id, model.template_major, model.template_minor)
        .subquery()
    )
    stmt, status = fleet.with_version_status(
        select(groups.c.resources, groups.c.failed),
        groups.c.template_id,
        groups.c.major,
        groups.c.minor,
    )
    classified = stmt.add_columns(status.label("status")).subquery()
    return select(
        classified.c.status, func.sum(classified.c.resources), func.sum(classified.c.failed)
    ).group_by(classified.c.status)


def _component_counts(session: Session) -> proton.ResourceCountsSummary:
    total = session.scalar(select(func.count()).select_from(Component)) or 0
    failed = session.scalar(
        select(func.count())
        .select_from(Component)
        .where(Component.deployment_status.in_(_FAILED_DEPLOYMENTS))
    )
    return {"total": total, "failed": failed or 0}


def _service_counts(session: Session) -> proton.ResourceCountsSummary:
    """A service is as stale as its stalest part: an instance or its pipeline behind a major
    version makes it behindMajor, else one behind a minor version behindMinor."""
    by_rank: dict[Any, int] = {
        rank: count for rank, count in session.execute(_service_staleness_statement()).all()
    }
    total = session.scalar(select(func.count()).select_from(Service)) or 0
    failed = session.scalar(
        select(func.count()).select_from(Service).where(Service.status.like("%FAILED%"))
    )
    behind_minor, behind_major = by_rank.get(1, 0), by_rank.get(2, 0)
    return {
        "total": total,
        "failed": failed or 0,
        # A service without instances or pipeline has nothing to be behind.
        "upToDate": total - behind_minor - behind_major,
        "behindMinor": behind_minor,
        "behindMajor": behind_major,
    }


@functools.cache
def _service_staleness_statement() -> Select[Any]:
    """Rows of (rank of the stalest part, services)."""
    # One row per service and deployed version (a service's instances mostly share one)
    # before the version status is worked out.
    instance_versions = (
        select(
            ServiceInstance.service_id,
            ServiceInstance.template_id,
            ServiceInstance.template_major,
            ServiceInstance.template_minor,
        )
        .distinct()
        .subquery()
    )
    instances, instance_status = fleet.with_version_status(
        select(instance_versions.c.service_id.label("service_id")),
        instance_versions.c.template_id,
        instance_versions.c.template_major,
        instance_versions.c.template_minor,
    )
    pipelines, pipeline_status = fleet.with_version_status(
        select(ServicePipeline.service_id.label("service_id")).join(
            Service, Service.id == ServicePipeline.service_id
        ),
        Service.template_id,
        ServicePipeline.template_major,
        ServicePipeline.template_minor,
    )
    parts = union_all(
        instances.add_columns(_ranked(instance_status).label("rank")),
        pipelines.add_columns(_ranked(pipeline_status).label("rank")),
    ).subquery()
    per_service = (
        select(parts.c.service_id, func.max(parts.c.rank).label("rank"))
        .group_by(parts.c.service_id)
        .subquery()
    )
    return select(per_service.c.rank, func.count()).group_by(per_service.c.rank)


def _ranked(status: Any) -> Any:
    return case(*((status == name, value) for name, value in _RANK.items()), else_=0)
