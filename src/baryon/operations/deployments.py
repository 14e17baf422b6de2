"""Deployment operations (3) and GetResourcesSummary."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select, union_all

from baryon.api.errors import (
    ConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from baryon.api.registry import proton_operation
from baryon.domain import deployments, fleet, outcomes
from baryon.domain.templates import TemplateKind
from baryon.operations import views
from baryon.operations.context import RequestContext
from baryon.store.tables import (
    Component,
    Deployment,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
)

_NAME_FILTERS = {
    "environmentName": Deployment.environment_name,
    "serviceName": Deployment.service_name,
    "serviceInstanceName": Deployment.service_instance_name,
    "componentName": Deployment.component_name,
}


def _check_instance_filter(request: dict[str, Any]) -> None:
    # Instance names are unique within a service only.
    if request.get("serviceInstanceName") and not request.get("serviceName"):
        raise ValidationException(
            "serviceInstanceName needs serviceName: instance names are unique only within "
            "their service."
        )


def _check_names(deployment: Deployment, request: dict[str, Any]) -> None:
    for member, column in _NAME_FILTERS.items():
        if request.get(member) and getattr(deployment, column.key) != request[member]:
            raise ResourceNotFoundException(
                f"The deployment '{deployment.id}' does not belong to {member} '{request[member]}'."
            )


@proton_operation("GetDeployment")
def get_deployment(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    with ctx.db.session() as session:
        _check_instance_filter(request)
        deployment = deployments.find_deployment(session, request["id"])
        _check_names(deployment, request)
        return {"deployment": views.deployment(ctx.arns, deployment)}


@proton_operation("ListDeployments")
def list_deployments(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    _check_instance_filter(request)
    stmt = select(Deployment)
    scope = {}
    for member, column in _NAME_FILTERS.items():
        if request.get(member):
            stmt = stmt.where(column == request[member])
            scope[member] = request[member]
    with ctx.db.session() as session:
        rows, next_token = ctx.page(
            session,
            stmt,
            [Deployment.created_at, Deployment.id],
            request,
            scope=scope,
            descending=True,
        )
        return {
            "deployments": [views.deployment_summary(ctx.arns, row[0]) for row in rows],
            "nextToken": next_token,
        }


@proton_operation("DeleteDeployment")
def delete_deployment(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    with ctx.db.session(write=True) as session:
        deployment = deployments.find_deployment(session, request["id"])
        if deployment.status not in deployments.TERMINAL:
            raise ConflictException(
                f"The deployment '{deployment.id}' is {deployment.status}; only finished "
                "deployments can be deleted."
            )
        resource = outcomes.resource_of(session, deployment)
        if resource is not None and resource.last_succeeded_deployment_id == deployment.id:
            raise ConflictException(
                f"The deployment '{deployment.id}' is what {deployment.target_arn} runs now; "
                "it can be deleted once another deployment succeeds or the resource is gone."
            )
        view = views.deployment(ctx.arns, deployment)
        session.delete(deployment)
        return {"deployment": view}


@proton_operation("GetResourcesSummary")
def get_resources_summary(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    with ctx.db.session() as session:
        counts = {
            "environmentTemplates": _template_count(session, TemplateKind.ENVIRONMENT),
            "serviceTemplates": _template_count(session, TemplateKind.SERVICE),
            "environments": _deployable_counts(
                session, select(Environment), Environment, Environment.template_id
            ),
            "serviceInstances": _deployable_counts(
                session, select(ServiceInstance), ServiceInstance, ServiceInstance.template_id
            ),
            "pipelines": _deployable_counts(
                session,
                select(ServicePipeline).join(Service, Service.id == ServicePipeline.service_id),
                ServicePipeline,
                Service.template_id,
            ),
            "services": _service_counts(session),
            # Components have no template, so no staleness (as Proton documents it).
            "components": _component_counts(session),
        }
        return {"counts": counts}


def _template_count(session: Any, kind: TemplateKind) -> dict[str, int]:
    total = session.scalar(select(func.count()).where(Template.kind == kind.value)) or 0
    return {"total": total}


def _deployable_counts(session: Any, base: Any, model: Any, template_id: Any) -> dict[str, int]:
    failed = case((model.deployment_status.in_(["FAILED", "DELETE_FAILED"]), 1), else_=0)
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
    counted = session.execute(
        select(
            classified.c.status, func.sum(classified.c.resources), func.sum(classified.c.failed)
        ).group_by(classified.c.status)
    ).all()
    by_status = {status_name: int(count or 0) for status_name, count, _ in counted}
    return {
        "total": sum(by_status.values()),
        "failed": sum(int(failures or 0) for _, _, failures in counted),
        "upToDate": by_status.get(fleet.UP_TO_DATE, 0),
        "behindMinor": by_status.get(fleet.BEHIND_MINOR, 0),
        "behindMajor": by_status.get(fleet.BEHIND_MAJOR, 0),
    }


def _component_counts(session: Any) -> dict[str, int]:
    total = session.scalar(select(func.count()).select_from(Component)) or 0
    failed = (
        session.scalar(
            select(func.count())
            .select_from(Component)
            .where(Component.deployment_status.in_(["FAILED", "DELETE_FAILED"]))
        )
        or 0
    )
    return {"total": total, "failed": failed}


def _service_counts(session: Any) -> dict[str, int]:
    """A service is as stale as its stalest part: an instance or its pipeline behind a major
    version makes it behindMajor, else one behind a minor version behindMinor."""
    rank = {fleet.UP_TO_DATE: 0, fleet.BEHIND_MINOR: 1, fleet.BEHIND_MAJOR: 2}
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
        instances.add_columns(_ranked(instance_status, rank).label("rank")),
        pipelines.add_columns(_ranked(pipeline_status, rank).label("rank")),
    ).subquery()
    per_service = (
        select(parts.c.service_id, func.max(parts.c.rank).label("rank"))
        .group_by(parts.c.service_id)
        .subquery()
    )
    by_rank = dict(
        session.execute(select(per_service.c.rank, func.count()).group_by(per_service.c.rank)).all()
    )
    total = session.scalar(select(func.count()).select_from(Service)) or 0
    failed = (
        session.scalar(
            select(func.count()).select_from(Service).where(Service.status.like("%FAILED%"))
        )
        or 0
    )
    behind_minor, behind_major = by_rank.get(1, 0), by_rank.get(2, 0)
    return {
        "total": total,
        "failed": failed,
        # A service without instances or pipeline has nothing to be behind.
        "upToDate": total - behind_minor - behind_major,
        "behindMinor": behind_minor,
        "behindMajor": behind_major,
    }


def _ranked(status: Any, rank: dict[str, int]) -> Any:
    return case(*((status == name, value) for name, value in rank.items()), else_=0)
