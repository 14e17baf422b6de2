"""Deployment history, and one deployment with its events and log, live while it runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.responses import Response

from baryon.domain import deployments, outcomes
from baryon.store.tables import Deployment
from baryon.web import queries, urls
from baryon.web.http import Visit

FILTERS = ("environment", "service", "instance", "type")


def index(visit: Visit) -> Response:
    filters = {key: visit.query(key) for key in FILTERS if visit.query(key)}
    page_text = visit.query("page", "1")
    page = max(int(page_text), 1) - 1 if page_text.isdigit() else 0
    with visit.db.session() as session:
        rows, more = queries.deployment_history(session, filters, page)
    return visit.page(
        "deployments.html",
        rows=rows,
        filters=filters,
        page=page + 1,
        previous_url=urls.deployments(**filters, page=str(page)) if page else None,
        next_url=urls.deployments(**filters, page=str(page + 2)) if more else None,
    )


def resource_url(deployment: Deployment) -> str:
    if deployment.target_type == deployments.ENVIRONMENT:
        return urls.environment(deployment.environment_name)
    if deployment.target_type == deployments.SERVICE_INSTANCE:
        return urls.instance(deployment.service_name or "", deployment.service_instance_name or "")
    return urls.pipeline(deployment.service_name or "")


def resource_words(deployment: Deployment) -> str:
    if deployment.target_type == deployments.ENVIRONMENT:
        return f"environment {deployment.environment_name}"
    if deployment.target_type == deployments.SERVICE_INSTANCE:
        return f"instance {deployment.service_instance_name} of {deployment.service_name}"
    return f"pipeline of {deployment.service_name}"


def _context(session: Session, deployment_id: str) -> dict[str, Any]:
    deployment = deployments.find_deployment(session, deployment_id)
    events, total = queries.events_of(session, deployment.id)
    resource = outcomes.resource_of(session, deployment)
    return {
        "deployment": deployment,
        "events": events,
        "hidden_events": total - len(events),
        "outputs": deployments.outputs_of(session, deployment.id),
        "active": deployment.status in deployments.ACTIVE,
        "resource_exists": resource is not None,
        "resource_url": resource_url(deployment),
        "resource_words": resource_words(deployment),
        "initial": next(iter((deployment.initial_state or {}).values()), None),
        "target": next(iter((deployment.target_state or {}).values()), None),
    }


def deployment_page(visit: Visit) -> Response:
    with visit.db.session() as session:
        context = _context(session, visit.param("id"))
    return visit.page("deployment.html", **context)


def deployment_live(visit: Visit) -> Response:
    with visit.db.session() as session:
        context = _context(session, visit.param("id"))
    return visit.page("_deployment_live.html", **context)
