"""The audit trail in the portal: records newest first, filtered, a page at a time, with the
spec difference of each change. The page reads through ListAuditRecords, so the policies that
decide who may read the trail over the API decide it here too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from baryon.operations import audit_records
from baryon.service_models.baryon import AuditResult
from baryon.web import urls
from baryon.web.http import Visit

PAGE_SIZE = 50
TEXT_FILTERS = ("principal", "operation", "resource")
TIME_FILTERS = ("since", "until")
MAX_FILTER = 2048  # the model's bound on a filter's text


def index(visit: Visit) -> Response:
    filters = {key: visit.query(key)[:MAX_FILTER] for key in _FILTERS if visit.query(key)}
    request: dict[str, Any] = {"maxResults": PAGE_SIZE}
    problems: list[str] = []
    for key in TEXT_FILTERS:
        if key in filters:
            request[key] = filters[key]
    for key in TIME_FILTERS:
        if key in filters:
            when = _time(filters[key])
            if when is None:
                problems.append(f"{key}: {filters[key]!r} is not a date or time (2026-12-01)")
            else:
                request[key] = when
    if "result" in filters:
        if filters["result"] in AuditResult.__members__:
            request["result"] = AuditResult(filters["result"])
        else:
            problems.append(f"result: {filters['result']!r} is not one of the results")
    token = visit.query("after")
    if token:
        request["nextToken"] = token[:4096]
    found = audit_records.list_audit_records(visit.context("audit"), request)  # type: ignore[arg-type]
    next_token = found.get("nextToken")
    return visit.page(
        "audit.html",
        records=found["records"],
        filters=filters,
        values={key: filters.get(key, "") for key in _FILTERS},
        problems=problems,
        results=[result.value for result in AuditResult],
        first_url=audit_url(**filters) if token else None,
        next_url=audit_url(**filters, after=next_token) if next_token else None,
    )


def audit_url(**query: str | None) -> str:
    present = {key: value for key, value in query.items() if value}
    return urls.PREFIX + "/audit" + (f"?{urlencode(present)}" if present else "")


_FILTERS = (*TEXT_FILTERS, *TIME_FILTERS, "result")


def _time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
