"""Deployment history, and one deployment with its events and log, live while it runs."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from baryon.operations import deployment_history, deployment_plans, pull_request_views
from baryon.operations.deployment_history import FILTERS
from baryon.operations.resource_keys import ENVIRONMENT, INSTANCE, target_of
from baryon.web import urls
from baryon.web.http import Visit
from baryon.web.resources import page_key


def index(visit: Visit) -> Response:
    filters = {key: visit.query(key) for key in FILTERS if visit.query(key)}
    page_text = visit.query("page", "1")
    page = max(int(page_text), 1) - 1 if page_text.isdigit() else 0
    history = deployment_history.deployment_history(
        visit.context("deployment_history"), filters, page
    )
    return visit.page(
        "deployments.html",
        rows=history.rows,
        filters=filters,
        page=page + 1,
        previous_url=urls.deployments(**filters, page=str(page)) if page else None,
        next_url=urls.deployments(**filters, page=str(page + 2)) if history.more else None,
    )


def resource_url(deployment: Any) -> str:
    """The page of the resource a deployment (a row of a deployments read model) deploys."""
    return page_key(target_of(deployment)).url()


def resource_words(deployment: Any) -> str:
    key = target_of(deployment)
    if key.kind == ENVIRONMENT:
        return f"environment {key.name}"
    if key.kind == INSTANCE:
        return f"instance {key.name} of {key.service}"
    return f"pipeline of {key.service}"


def _context(visit: Visit) -> dict[str, Any]:
    detail = deployment_history.deployment_detail(
        visit.context("deployment_detail"), visit.param("id")
    )
    return {
        "deployment": detail.deployment,
        "events": detail.events,
        "hidden_events": detail.hidden_events,
        "outputs": detail.outputs,
        "active": detail.active,
        "resource_exists": detail.target_exists,
        "resource_url": resource_url(detail.deployment),
        "resource_words": resource_words(detail.deployment),
        "initial": detail.initial_state,
        "target": detail.target_state,
        "plan": deployment_plans.deployment_plan(
            visit.context("deployment_plan"), detail.deployment.id
        ),
        "pull_request": pull_request_views.pull_request_of_deployment(
            visit.context("pull_request_of_deployment"), detail.deployment.id
        ),
    }


def deployment_page(visit: Visit) -> Response:
    return visit.page("deployment.html", **_context(visit))


def deployment_live(visit: Visit) -> Response:
    return visit.page("_deployment_live.html", **_context(visit))
