"""Deployment history, and one deployment with its events and log, live while it runs."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from baryon.operations import deployment_history, deployment_plans, pull_request_views
from baryon.operations.deployment_history import FILTERS
from baryon.operations.resource_keys import ENVIRONMENT, INSTANCE, target_of
from baryon.operations.resource_lists import State
from baryon.web import lists, urls
from baryon.web.http import PortalError, Visit
from baryon.web.resources import page_key


def index(visit: Visit) -> Response:
    """The history, newest first, filtered (resource names, type, status), by keyset pages."""
    filters = lists.active_filters(visit, FILTERS)
    for key, value in filters.items():
        if len(value) > 200:
            raise PortalError(f"The filter '{key}' is longer than 200 characters.")
    history = deployment_history.deployment_history(
        visit.context("deployment_history"),
        filters,
        lists.choice(visit, "status", State),
        visit.query("after") or None,
    )
    shown = {**filters, **lists.active_filters(visit, ("status",))}
    return visit.page(
        "deployments.html",
        rows=history.rows,
        existing=history.existing,
        queued=history.queued,
        filters=shown,
        first_url=urls.deployments(**shown) if visit.query("after") else None,
        next_url=urls.deployments(**shown, after=history.next_token)
        if history.next_token
        else None,
        states=[state.value for state in State],
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
        "retryable": detail.retryable,
        "queued": detail.queued,
        "retry_url": page_key(target_of(detail.deployment)).url("retry"),
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
