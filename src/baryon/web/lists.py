"""The portal's lists at fleet scale: their filters read from the address, one page served
at a time, and the two lists that are not a kind's own page (every service instance, and
environments, instances and pipelines together, such as everything that failed)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.responses import Response

from baryon.operations import resource_lists
from baryon.operations.resource_keys import ENVIRONMENT, INSTANCE, PIPELINE
from baryon.operations.resource_lists import (
    MAX_SEARCH,
    ResourceFilters,
    ServiceFilters,
    Standing,
    State,
)
from baryon.web import urls
from baryon.web.http import PortalError, Visit

E = TypeVar("E", bound=StrEnum)

# The address's names of the filters, in the order the form shows them.
RESOURCE_FILTERS = (
    "q",
    "status",
    "standing",
    "template",
    "version",
    "environment",
    "team",
    "service",
)
SERVICE_FILTERS = ("q", "status", "template", "team")
KIND_WORDS = {ENVIRONMENT: "environments", INSTANCE: "service instances", PIPELINE: "pipelines"}
_MAX_VALUE = 200  # characters of any filter value


def _text(visit: Visit, name: str, limit: int = _MAX_VALUE) -> str:
    value = visit.query(name).strip()
    if len(value) > limit:
        raise PortalError(f"The filter '{name}' is longer than {limit} characters.")
    return value


def choice(visit: Visit, name: str, enum: type[E]) -> E | None:
    value = _text(visit, name)
    if not value:
        return None
    if value not in enum.__members__.values():
        allowed = ", ".join(member.value for member in enum)
        raise PortalError(f"The filter '{name}' is one of {allowed}, not '{value}'.")
    return enum(value)


def resource_filters(visit: Visit, kind: str = "") -> ResourceFilters:
    """The filters in the address; ``kind`` fixes the kind (a kind's own list)."""
    chosen = kind or _text(visit, "kind")
    if chosen and chosen not in KIND_WORDS:
        raise PortalError(
            f"The filter 'kind' is environment, instance or pipeline, not '{chosen}'."
        )
    version = _text(visit, "version", 20)
    if version and resource_lists.version_parts(version) is None:
        raise PortalError(f"The filter 'version' is a version such as 1 or 1.2, not '{version}'.")
    return ResourceFilters(
        kind=chosen,
        state=choice(visit, "status", State),
        standing=choice(visit, "standing", Standing),
        template=_text(visit, "template"),
        version=version,
        environment=_text(visit, "environment"),
        service=_text(visit, "service"),
        search=_text(visit, "q", MAX_SEARCH),
        team=_text(visit, "team"),
    )


def service_filters(visit: Visit) -> ServiceFilters:
    return ServiceFilters(
        state=choice(visit, "status", State),
        template=_text(visit, "template"),
        search=_text(visit, "q", MAX_SEARCH),
        team=_text(visit, "team"),
    )


def active_filters(visit: Visit, names: tuple[str, ...]) -> dict[str, str]:
    """The filters the address sets, by name, for links that keep them."""
    return {name: visit.query(name) for name in names if visit.query(name)}


def paging(
    visit: Visit,
    base: Callable[..., str],
    live_page: str,
    filters: dict[str, str],
    token: str | None,
) -> dict[str, Any]:
    """What every list page shows about its filters and pages."""
    query = dict(filters)
    if visit.query("after"):
        query["after"] = visit.query("after")
    encoded = f"?{urlencode(query)}" if query else ""
    return {
        "filters": filters,
        "live_url": urls.live(live_page) + encoded,
        "first_url": base(**filters) if visit.query("after") else None,
        "next_url": base(**filters, after=token) if token else None,
        "states": [state.value for state in State],
        "standings": [standing.value for standing in Standing],
    }


_LIST_OF: dict[str, Callable[..., str]] = {
    ENVIRONMENT: urls.environments,
    INSTANCE: urls.instances,
    "": urls.resources,
}


def resource_page(visit: Visit, template_file: str, kind: str, live_page: str) -> Response:
    """A page (or its live fragment) of environments, instances or every kind."""
    filters = resource_filters(visit, kind)
    found = resource_lists.list_resources(
        visit.context("list_resources"), filters, visit.query("after") or None
    )
    base = _LIST_OF[kind]
    shown = active_filters(visit, RESOURCE_FILTERS + (() if kind else ("kind",)))
    return visit.page(
        template_file,
        rows=found.rows,
        busy=found.busy,
        kind=kind,
        kind_words=KIND_WORDS,
        **paging(visit, base, live_page, shown, found.next_token),
    )


def instances(visit: Visit) -> Response:
    return resource_page(visit, "instances.html", INSTANCE, "instances")


def live_instances(visit: Visit) -> Response:
    return resource_page(visit, "_resources_live.html", INSTANCE, "instances")


def resources(visit: Visit) -> Response:
    return resource_page(visit, "resources.html", "", "resources")


def live_resources(visit: Visit) -> Response:
    return resource_page(visit, "_resources_live.html", "", "resources")
