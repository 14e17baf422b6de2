"""What git sync shows on other pages: a service's sync configuration, its instances' sync
status and its sync blockers (with the page that resolves one), and a template's sync
configuration and the status of each of its major versions.

Each panel is read through the API's own operations (GetServiceSyncConfig,
GetServiceInstanceSyncStatus, GetServiceSyncBlockerSummary, UpdateServiceSyncBlocker, ...),
so the portal shows and refuses exactly what the API does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.responses import Response

from baryon.operations import service_overview, service_sync, template_sync
from baryon.operations.catalog import TemplateKind
from baryon.operations.errors import DomainError, NotFound
from baryon.service_models import proton
from baryon.web import members, urls
from baryon.web.http import NotFound as PageNotFound
from baryon.web.http import Visit

REASON_FIELD = "resolvedReason"


@dataclass(frozen=True)
class InstanceSync:
    instance_name: str
    status: proton.GetServiceInstanceSyncStatusOutput  # empty: never synced


@dataclass(frozen=True)
class Blocker:
    blocker: proton.SyncBlocker
    instance_name: str | None  # None: the blocker holds the whole service

    @property
    def scope_words(self) -> str:
        if self.instance_name is None:
            return "the whole service"
        return f"instance {self.instance_name}"


@dataclass(frozen=True)
class ServiceSync:
    config: proton.ServiceSyncConfig | None
    instances: list[InstanceSync]  # only instances the sync has touched
    blockers: list[Blocker]  # active ones, the service's first

    @property
    def shown(self) -> bool:
        return self.config is not None or bool(self.instances) or bool(self.blockers)


def service_sync_panel(
    visit: Visit, service_name: str, instance_names: Sequence[str]
) -> ServiceSync:
    config = service_sync.get_service_sync_config(
        visit.context("GetServiceSyncConfig"), {"serviceName": service_name}
    ).get("serviceSyncConfig")
    instances = []
    for name in instance_names:
        try:
            status = service_sync.get_service_instance_sync_status(
                visit.context("GetServiceInstanceSyncStatus"),
                {"serviceName": service_name, "serviceInstanceName": name},
            )
        except NotFound:  # deleted since the service was read
            continue
        if status.get("latestSync"):
            instances.append(InstanceSync(name, status))
    return ServiceSync(config, instances, blockers_of(visit, service_name, instance_names))


def blockers_of(visit: Visit, service_name: str, instance_names: Sequence[str]) -> list[Blocker]:
    """The active blockers of the service and of each of its instances (Proton's model asks
    for each scope separately)."""
    found: list[Blocker] = []
    for instance_name in [None, *instance_names]:
        request: proton.GetServiceSyncBlockerSummaryInput = {"serviceName": service_name}
        if instance_name is not None:
            request["serviceInstanceName"] = instance_name
        try:
            summary = service_sync.get_service_sync_blocker_summary(
                visit.context("GetServiceSyncBlockerSummary"), request
            ).get("serviceSyncBlockerSummary")
        except NotFound:
            continue
        if summary is not None:
            found += [Blocker(b, instance_name) for b in summary.get("latestBlockers") or []]
    return found


# --- a template -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MajorSync:
    major: int
    status: proton.GetTemplateSyncStatusOutput  # empty: this major was never synced


@dataclass(frozen=True)
class TemplateSync:
    config: proton.TemplateSyncConfig | None
    majors: list[MajorSync]  # newest major first, only those the sync has touched

    @property
    def shown(self) -> bool:
        return self.config is not None or bool(self.majors)


def template_sync_panel(
    visit: Visit, kind: TemplateKind, name: str, majors: Sequence[int]
) -> TemplateSync:
    """GetTemplateSyncConfig, and GetTemplateSyncStatus of each major version the template has
    (a synced template's first sync, before any version exists, is its major version 1)."""
    template_type = proton.TemplateType(kind.value)
    try:
        config = template_sync.get_template_sync_config(
            visit.context("GetTemplateSyncConfig"),
            {"templateName": name, "templateType": template_type},
        ).get("templateSyncConfig")
    except NotFound:
        config = None
    found = []
    for major in sorted(set(majors) or {1}, reverse=True):
        status = template_sync.get_template_sync_status(
            visit.context("GetTemplateSyncStatus"),
            {"templateName": name, "templateType": template_type, "templateVersion": str(major)},
        )
        if status.get("latestSync"):
            found.append(MajorSync(major, status))
    return TemplateSync(config, found)


# --- resolving a blocker ----------------------------------------------------------------------


def resolve_blocker(visit: Visit) -> Response:
    """GET: the blocker and the form. POST (also from the service page's own form):
    UpdateServiceSyncBlocker; a refusal is shown beside the reason, on this page."""
    service_name, blocker_id = visit.param("service"), visit.param("blocker")
    reason = visit.form.get(REASON_FIELD, "")
    error = None
    if visit.request.method == "POST":
        error = members.problem("UpdateServiceSyncBlocker", REASON_FIELD, reason.strip())
        if error is None:
            try:
                answer = service_sync.update_service_sync_blocker(
                    visit.context("UpdateServiceSyncBlocker"),
                    {"id": blocker_id, "resolvedReason": reason.strip()},
                )
            except DomainError as refused:
                error = refused.message
            else:
                # The id decides, as on the API: back to the service the blocker was on.
                return visit.redirect(
                    urls.service(answer["serviceName"]),
                    "The sync blocker is resolved; the service's sync runs again.",
                )
    found = _blocker(visit, service_name, blocker_id)
    if found is None and error is None:
        raise PageNotFound(
            f"The service {service_name} has no active sync blocker with id {blocker_id}."
        )
    return visit.page(
        "resolve_blocker.html",
        status=400 if error else 200,
        service_name=service_name,
        blocker_id=blocker_id,
        found=found,
        reason=reason,
        error=error,
    )


def _blocker(visit: Visit, service_name: str, blocker_id: str) -> Blocker | None:
    try:
        detail = service_overview.service_detail(visit.context("service_detail"), service_name)
    except NotFound:
        return None
    names = [instance.name for instance, _ in detail.instances]
    return next(
        (b for b in blockers_of(visit, service_name, names) if b.blocker["id"] == blocker_id),
        None,
    )
