"""The fleet dashboard: per template, how many resources are up to date, behind a minor or a
major version, or failed, and one action that upgrades the outdated ones."""

from __future__ import annotations

from starlette.responses import Response

from baryon.api.errors import ApiError
from baryon.domain import deployments, fleet
from baryon.domain.templates import find_template
from baryon.web import queries, resources, urls
from baryon.web.catalog import template_kind
from baryon.web.deployable import UPGRADES
from baryon.web.http import PortalError, Visit

_STATUS_OF_SCOPE = {"minor": fleet.BEHIND_MINOR, "major": fleet.BEHIND_MAJOR}


def dashboard(visit: Visit, template_name: str = "_fleet_live.html") -> Response:
    with visit.db.session() as session:
        rows = queries.fleet_rows(session)
    busy = any(row.counts.busy for row in rows)
    return visit.page(template_name, rows=rows, busy=busy, resource_words=queries.resource_words)


def index(visit: Visit) -> Response:
    return dashboard(visit, "fleet.html")


def live(visit: Visit) -> Response:
    return dashboard(visit)


def _key(item: queries.Outdated) -> resources.ResourceKey:
    if item.kind == resources.ENVIRONMENT:
        return resources.environment_key(item.name)
    if item.kind == resources.INSTANCE:
        return resources.instance_key(item.service or "", item.name)
    return resources.pipeline_key(item.service or "")


def upgrade(visit: Visit) -> Response:
    """GET: the outdated resources and where they will go. POST: start their upgrades."""
    kind = template_kind(visit)
    scope = visit.param("scope")
    if scope not in _STATUS_OF_SCOPE:
        raise PortalError("An upgrade is to the recommended minor or major version.", 404)
    with visit.db.session() as session:
        template = find_template(session, kind, visit.param("name"))
        items = queries.outdated(session, template, _STATUS_OF_SCOPE[scope])
        targets = {
            (item.kind, item.service, item.name): queries.standing(
                session, template.id, item.major, item.minor
            )
            for item in items
        }
    if visit.request.method == "GET":
        return visit.page(
            "fleet_upgrade.html",
            template=template,
            scope=scope,
            items=items,
            targets=targets,
            busy_statuses=deployments.ACTIVE,
        )
    started, skipped = [], []
    for item in items:
        key = _key(item)
        standing = targets[(item.kind, item.service, item.name)]
        wanted = standing.minor_target if scope == "minor" else standing.major_target
        if wanted is None:
            continue
        try:
            # One transaction per resource: a busy one is skipped, the others still go.
            with visit.db.session(write=True) as session:
                resources.start_update(
                    session,
                    visit.runtime.arns,
                    key,
                    deployment_type=UPGRADES[scope],
                    spec=None,
                    major=str(wanted[0]) if scope == "major" else None,
                    minor=str(wanted[1]),
                    now=visit.now,
                )
            started.append(key.label)
        except ApiError as exc:
            skipped.append(f"{key.label}: {exc.message}")
    visit.wakeup_workers()
    message = f"Started {len(started)} upgrade(s) of {template.name}."
    if skipped:
        message += " Skipped " + "; ".join(skipped)
    return visit.redirect(urls.fleet(), message)
