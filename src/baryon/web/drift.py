"""The portal's drift pages: a resource's drift (its latest check, coverage, and each open
item with Re-apply / Accept / Ignore), and the fleet's drift by template (/portal/drift).
Every action is the baryon model's operation (operations/drift.py), so the portal refuses
what the API refuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from baryon.operations import drift
from baryon.operations.errors import DomainError, Forbidden
from baryon.operations.resource_keys import ENVIRONMENT, INSTANCE
from baryon.service_models import baryon
from baryon.web import urls
from baryon.web.http import Handler, PortalError, Visit
from baryon.web.resources import PageKey

ITEMS_ON_INDEX = 100
# How a page finds its resource in the URL (web/deployable.KeyOf, which imports this module).
KeyOf = Callable[[Visit], PageKey]
_REFS = {
    ENVIRONMENT: baryon.DriftResourceType.ENVIRONMENT,
    INSTANCE: baryon.DriftResourceType.SERVICE_INSTANCE,
}


def drift_url() -> str:
    return urls.PREFIX + "/drift"


def _ref(key: PageKey) -> dict[str, Any]:
    kind = _REFS.get(key.kind, baryon.DriftResourceType.SERVICE_PIPELINE)
    if kind == baryon.DriftResourceType.ENVIRONMENT:
        return {"resourceType": kind, "environmentName": key.name}
    if kind == baryon.DriftResourceType.SERVICE_INSTANCE:
        return {"resourceType": kind, "serviceName": key.service, "serviceInstanceName": key.name}
    return {"resourceType": kind, "serviceName": key.service}


@dataclass(frozen=True)
class ResourceDrift:
    """What a resource page's drift panel shows."""

    last_status: str | None
    last_checked: datetime | None
    open_items: int


def summary(visit: Visit, key: PageKey) -> ResourceDrift:
    report = drift.drift_report(visit.context("GetDriftReport"), key)
    last = report.last_check
    return ResourceDrift(
        last.status if last else None,
        last.requested_at if last else None,
        sum(1 for item in report.items if item.status == "OPEN"),
    )


def _until(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PortalError(f"'{text}' is not a date (YYYY-MM-DD).") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _decide(visit: Visit) -> str:
    request: dict[str, Any] = {
        "itemId": visit.form.get("item", ""),
        "decision": visit.form.get("decision", ""),
    }
    if request["decision"] not in {d.value for d in baryon.DriftDecision}:
        raise PortalError("Choose Re-apply, Accept or Ignore.")
    reason = visit.form.get("reason", "").strip()
    if reason:
        request["reason"] = reason
    until = _until(visit.form.get("until", "").strip())
    if until is not None:
        request["until"] = until
    decided = drift.decide_drift_item(visit.context("DecideDriftItem"), request)["item"]  # type: ignore[arg-type]
    deployment_id = decided.get("deploymentId")
    started = f": deployment {deployment_id[:8]}" if deployment_id else ""
    return f"Drift item {decided['status'].lower()}{started}."


def drift_page(key_of: KeyOf) -> Handler:
    """GET: the resource's drift. POST: check it now, or decide an item."""

    def handler(visit: Visit) -> Response:
        key = key_of(visit)
        if visit.request.method == "POST":
            try:
                if visit.form.get("action") == "check":
                    drift.start_drift_check(
                        visit.context("StartDriftCheck"),
                        {"resources": [_ref(key)]},  # type: ignore[list-item]
                    )
                    message = "Drift check started: this page shows it once it ends."
                else:
                    message = _decide(visit)
            except Forbidden:
                raise  # the 403 page
            except DomainError as error:
                message = error.message
            return visit.redirect(key.url("drift"), message)
        report = drift.drift_report(visit.context("GetDriftReport"), key)
        return visit.page("drift.html", key=key, report=report, ref=_ref(key))

    return handler


def index(visit: Visit) -> Response:
    """The fleet's drift: open items of every resource, or of one template's."""
    template = visit.query("template").strip()
    if visit.request.method == "POST":
        name = visit.form.get("template", "").strip()
        kind = visit.form.get("template_type", "SERVICE")
        try:
            started = drift.start_drift_check(
                visit.context("StartDriftCheck"),
                {"templateName": name, "templateType": kind},  # type: ignore[typeddict-item]
            )
        except Forbidden:
            raise
        except DomainError as error:
            return visit.redirect(drift_url(), error.message)
        count = len(started["checks"])
        return visit.redirect(
            f"{drift_url()}?template={name}", f"Started {count} drift checks of {name}."
        )
    request: dict[str, Any] = {"maxResults": ITEMS_ON_INDEX}
    if template:
        request["templateName"] = template
    items = drift.list_drift_items(visit.context("ListDriftItems"), request)["items"]  # type: ignore[arg-type]
    return visit.page(
        "drift_index.html",
        items=[{**item, "page": resource_url(item["resourceArn"])} for item in items],
        template=template,
        drift_url=drift_url(),
    )


def resource_url(arn: str) -> str | None:
    """The portal page of the resource an ARN names (environment, instance or pipeline)."""
    parts = arn.split(":", 5)[-1].split("/")
    if len(parts) == 2 and parts[0] == "environment":
        return f"{urls.PREFIX}/environments/{parts[1]}/drift"
    if len(parts) == 4 and parts[0] == "service" and parts[2] == "service-instance":
        return f"{urls.PREFIX}/services/{parts[1]}/instances/{parts[3]}/drift"
    if len(parts) == 3 and parts[0] == "service" and parts[2] == "pipeline":
        return f"{urls.PREFIX}/services/{parts[1]}/pipeline/drift"
    return None
