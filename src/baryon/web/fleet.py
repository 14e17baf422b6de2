"""The fleet dashboard: per template, how many resources are up to date, behind a minor or a
major version, or failed, and one action that upgrades the outdated ones."""

from __future__ import annotations

from starlette.responses import Response

from baryon.operations import fleet, fleet_upgrades
from baryon.web import urls
from baryon.web.catalog import template_kind
from baryon.web.deployable import upgrade_of
from baryon.web.http import Visit

_RESOURCE_WORDS = {
    fleet.ENVIRONMENT: "environments",
    fleet.INSTANCE: "service instances",
    fleet.PIPELINE: "pipelines",
}


def resource_words(kind: str) -> str:
    return _RESOURCE_WORDS[kind]


def dashboard(visit: Visit, template_name: str = "_fleet_live.html") -> Response:
    rows = fleet.fleet_rows(visit.context("fleet_rows"))
    busy = any(row.counts.busy for row in rows)
    return visit.page(template_name, rows=rows, busy=busy, resource_words=resource_words)


def index(visit: Visit) -> Response:
    return dashboard(visit, "fleet.html")


def live(visit: Visit) -> Response:
    return dashboard(visit)


def upgrade(visit: Visit) -> Response:
    """GET: the outdated resources and where they will go. POST: start their upgrades."""
    kind = template_kind(visit)
    scope = upgrade_of(visit.param("scope"))
    if visit.request.method == "GET":
        found = fleet.outdated_fleet(
            visit.context("outdated_fleet"), kind, visit.param("name"), scope.behind
        )
        return visit.page(
            "fleet_upgrade.html",
            template=found.template,
            scope=scope.value,
            items=found.items,
            targets=found.targets,
            busy_statuses=fleet.BUSY_STATUSES,
        )
    done = fleet_upgrades.upgrade_outdated(
        visit.context("upgrade_outdated"), kind, visit.param("name"), scope
    )
    message = f"Started {len(done.started)} upgrade(s) of {done.template_name}."
    if done.skipped:
        message += " Skipped " + "; ".join(done.skipped)
    return visit.redirect(urls.fleet(), message)
