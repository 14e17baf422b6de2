"""The home page: what there is, and what is deploying right now."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from baryon.operations import overview
from baryon.web.deployments import resource_url, resource_words
from baryon.web.http import Visit


def _context(visit: Visit) -> dict[str, Any]:
    found = overview.overview(visit.context("overview"))
    return {
        "summary": found.summary,
        "active": found.active,
        "active_more": found.active_more,
        "active_shown": overview.ACTIVE_SHOWN,
        "recent": found.recent,
        "existing": found.existing,
        "busy": found.busy,
        "resource_url": resource_url,
        "resource_words": resource_words,
    }


def home(visit: Visit) -> Response:
    return visit.page("overview.html", **_context(visit))


def live(visit: Visit) -> Response:
    return visit.page("_overview_live.html", **_context(visit))
