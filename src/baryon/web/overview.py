"""The home page: what there is, and what is deploying right now."""

from __future__ import annotations

from starlette.responses import Response

from baryon.web import queries
from baryon.web.deployments import resource_url, resource_words
from baryon.web.http import Visit


def _context(visit: Visit) -> dict:
    with visit.db.session() as session:
        summary = queries.summary(session)
        active = queries.active_deployments(session)
        recent, _ = queries.deployment_history(session, {}, 0)
    return {
        "summary": summary,
        "active": active,
        "recent": recent[:10],
        "busy": bool(active),
        "resource_url": resource_url,
        "resource_words": resource_words,
    }


def home(visit: Visit) -> Response:
    return visit.page("overview.html", **_context(visit))


def live(visit: Visit) -> Response:
    return visit.page("_overview_live.html", **_context(visit))
