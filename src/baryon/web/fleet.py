"""The fleet dashboard: per template, how many resources are up to date, behind a minor or a
major version, or failed, and one action that upgrades the outdated ones."""

from __future__ import annotations

from starlette.responses import Response

from baryon.operations import fleet, fleet_upgrades
from baryon.web import urls
from baryon.web.catalog import template_kind
from baryon.web.deployable import upgrade_of
from baryon.web.http import PortalError, Visit

_RESOURCE_WORDS = {
    fleet.ENVIRONMENT: "environments",
    fleet.INSTANCE: "service instances",
    fleet.PIPELINE: "pipelines",
}


def resource_words(kind: str) -> str:
    return _RESOURCE_WORDS[kind]


def count_url(row: fleet.FleetRow, **filters: str) -> str:
    """The list of exactly the resources one number of a fleet row counts."""
    filters["template"] = row.template.name
    if row.resource_kind == fleet.ENVIRONMENT:
        return urls.environments(**filters)
    if row.resource_kind == fleet.INSTANCE:
        return urls.instances(**filters)
    return urls.resources(kind=row.resource_kind, **filters)


def dashboard(visit: Visit, template_name: str = "_fleet_live.html") -> Response:
    rows = fleet.fleet_rows(visit.context("fleet_rows"))
    busy = any(row.counts.busy for row in rows)
    return visit.page(
        template_name, rows=rows, busy=busy, resource_words=resource_words, count_url=count_url
    )


def index(visit: Visit) -> Response:
    return dashboard(visit, "fleet.html")


def live(visit: Visit) -> Response:
    return dashboard(visit)


def resources_of(visit: Visit) -> str | None:
    """The fleet row an upgrade is for (``?resources=instance``), or None for all of them."""
    chosen = visit.query("resources")
    if not chosen:
        return None
    if chosen not in _RESOURCE_WORDS:
        raise PortalError(f"'{chosen}' is not environment, instance or pipeline.", 404)
    return chosen


def upgrade(visit: Visit) -> Response:
    """GET: the outdated resources and where they will go. POST: start their upgrades."""
    kind = template_kind(visit)
    scope = upgrade_of(visit.param("scope"))
    resources = resources_of(visit)
    if visit.request.method == "GET":
        found = fleet.outdated_fleet(
            visit.context("outdated_fleet"), kind, visit.param("name"), scope.behind, resources
        )
        return visit.page(
            "fleet_upgrade.html",
            template=found.template,
            scope=scope.value,
            resources=resources,
            items=found.items,
            targets=found.targets,
            busy_statuses=fleet.BUSY_STATUSES,
            resource_words=resource_words,
        )
    done = fleet_upgrades.upgrade_outdated(
        visit.context("upgrade_outdated"), kind, visit.param("name"), scope, resources
    )
    message = f"Started {len(done.started)} upgrade(s) of {done.template_name}."
    if done.skipped:
        message += " Skipped " + "; ".join(done.skipped)
    return visit.redirect(urls.fleet(), message)
