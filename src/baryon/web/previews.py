"""The portal's fleet previews: the list, and one preview grouped by change (each distinct
change once, with the resources it covers, its change set's resource changes, the rendered
difference and its risks), with Approve. Every read and the approval are the baryon model's
operations (operations/fleet_previews.py), so the portal shows and refuses what the API does:
a stale preview's approval is refused naming why, and a person the policies do not let
approve sees no button (and is refused a post anyway)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from baryon.operations import fleet_previews
from baryon.operations.errors import DomainError, Forbidden
from baryon.service_models import baryon
from baryon.web import urls
from baryon.web.http import Visit

LISTED = 50  # previews on the list page (newest first)
NAMED = 25  # resources named per group; the rest are counted
# Risks a reviewer must not miss, shown as warnings; the others as tags.
SERIOUS = frozenset(
    {
        baryon.FleetPreviewRisk.REPLACEMENT,
        baryon.FleetPreviewRisk.DATA_LOSS,
        baryon.FleetPreviewRisk.DRIFT_OVERWRITE,
    }
)
RISK_WORDS = {
    baryon.FleetPreviewRisk.REPLACEMENT: "replaces a resource",
    baryon.FleetPreviewRisk.CONDITIONAL_REPLACEMENT: "may replace a resource",
    baryon.FleetPreviewRisk.DATA_LOSS: "deletes a resource and its data",
    baryon.FleetPreviewRisk.DYNAMIC: "a change known only while deploying",
    baryon.FleetPreviewRisk.DRIFT_OVERWRITE: "overwrites drift",
}


def previews_url(preview_id: str | None = None, action: str | None = None) -> str:
    url = urls.PREFIX + "/previews"
    if preview_id:
        url += f"/{preview_id}"
    return url + (f"/{action}" if action else "")


@dataclass(frozen=True)
class Group:
    """One distinct change, as the page shows it."""

    group: baryon.FleetPreviewGroup
    resources: list[str]  # the first NAMED resources' labels
    more: int  # how many more it covers

    @property
    def example(self) -> baryon.FleetPreviewItem:
        return self.group["example"]

    @property
    def serious(self) -> bool:
        return any(risk in SERIOUS for risk in self.group.get("risks") or [])


def label(item: baryon.FleetPreviewItem) -> str:
    if item.get("environmentName"):
        return f"environment {item.get('environmentName')}"
    return f"{item.get('serviceName')}/{item.get('serviceInstanceName')}"


def index(visit: Visit) -> Response:
    listed = fleet_previews.list_fleet_previews(
        visit.context("ListFleetPreviews"), {"maxResults": LISTED}
    )
    return visit.page("fleet_previews.html", previews=listed["previews"], previews_url=previews_url)


def preview_page(visit: Visit) -> Response:
    preview_id = visit.param("id")
    context = visit.context("GetFleetPreview")
    preview = fleet_previews.get_fleet_preview(context, {"id": preview_id})["fleetPreview"]
    groups = [_group(visit, preview_id, group) for group in preview.get("groups") or []]
    groups.sort(key=lambda g: (not g.serious, -g.group["count"]))
    return visit.page(
        "fleet_preview.html",
        preview=preview,
        groups=groups,
        may_approve=visit.may("ApproveFleetPreview", id=preview_id),
        approvable=preview["status"] == baryon.FleetPreviewStatus.READY
        and not preview.get("stale"),
        risk_words=RISK_WORDS,
        serious=SERIOUS,
        label=label,
        previews_url=previews_url,
        PreviewStatus=baryon.FleetPreviewStatus,
        ItemStatus=baryon.FleetPreviewItemStatus,
    )


def _group(visit: Visit, preview_id: str, group: baryon.FleetPreviewGroup) -> Group:
    if group["count"] == 1:
        return Group(group, [label(group["example"])], 0)
    request: Any = {"id": preview_id, "signature": group["signature"], "maxResults": NAMED}
    listed = fleet_previews.list_fleet_preview_items(
        visit.context("ListFleetPreviewItems"), request
    )
    names = [label(item) for item in listed["items"]]
    return Group(group, names, max(0, group["count"] - len(names)))


def approve(visit: Visit) -> Response:
    preview_id = visit.param("id")
    try:
        fleet_previews.approve_fleet_preview(
            visit.context("ApproveFleetPreview"), {"id": preview_id}
        )
    except Forbidden:
        raise  # the 403 page, not a note on this one
    except DomainError as error:
        return visit.redirect(previews_url(preview_id), error.message)
    return visit.redirect(
        previews_url(preview_id), "Approved: its deployments run exactly the previewed changes."
    )
