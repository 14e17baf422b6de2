"""GetResourcesSummary: how many templates, environments, services, instances, pipelines
and components there are, and how many of each are up to date, behind a minor or major
version, or failed.

Read from the maintained counts (store/resource_counts.py), not from the resources: three
small queries whatever the size of the fleet. The counts are per deployed version; whether a
version is up to date depends on the recommended versions of the moment, so it is worked out
here, for a handful of (template, version) groups. A service is as stale as its stalest part,
which takes one row per service and deployed version.

The statements never change, so they are built once per process.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any, Literal

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from baryon.domain import fleet
from baryon.service_models import proton
from baryon.store.resource_counts import CountedKind
from baryon.store.tables import ResourceCount

_RANK = {
    fleet.VersionStatus.UP_TO_DATE: 0,
    fleet.VersionStatus.BEHIND_MINOR: 1,
    fleet.VersionStatus.BEHIND_MAJOR: 2,
}
_VERSIONED = {
    CountedKind.ENVIRONMENT: "environments",
    CountedKind.SERVICE_INSTANCE: "serviceInstances",
    CountedKind.SERVICE_PIPELINE: "pipelines",
}


def resources_summary(session: Session) -> proton.CountsSummary:
    totals: dict[tuple[str, bool], int] = defaultdict(int)
    for kind, failed, resources in session.execute(_totals_statement()):
        totals[kind, bool(failed)] += int(resources)

    def total(kind: CountedKind) -> int:
        return totals[kind, False] + totals[kind, True]

    versioned: dict[str, proton.ResourceCountsSummary] = {}
    for kind, name in _VERSIONED.items():
        versioned[name] = {
            "total": total(kind),
            "failed": totals[kind, True],
            "upToDate": 0,
            "behindMinor": 0,
            "behindMajor": 0,
        }
    for kind, status, resources in session.execute(_version_status_statement()):
        counts = versioned[_VERSIONED[CountedKind(kind)]]
        field = _field(status)
        counts[field] = (counts.get(field) or 0) + int(resources)
    by_rank = {int(rank): int(n) for rank, n in session.execute(_service_staleness_statement())}
    services = total(CountedKind.SERVICE)
    behind_minor, behind_major = by_rank.get(1, 0), by_rank.get(2, 0)
    return {
        "environmentTemplates": {"total": total(CountedKind.ENVIRONMENT_TEMPLATE)},
        "serviceTemplates": {"total": total(CountedKind.SERVICE_TEMPLATE)},
        "environments": versioned["environments"],
        "serviceInstances": versioned["serviceInstances"],
        "pipelines": versioned["pipelines"],
        "services": {
            "total": services,
            "failed": totals[CountedKind.SERVICE, True],
            # A service without instances or pipeline has nothing to be behind.
            "upToDate": services - behind_minor - behind_major,
            "behindMinor": behind_minor,
            "behindMajor": behind_major,
        },
        # Components have no template, so no staleness (as Proton documents it).
        "components": {
            "total": total(CountedKind.COMPONENT),
            "failed": totals[CountedKind.COMPONENT, True],
        },
    }


def _field(status: str) -> Literal["upToDate", "behindMinor", "behindMajor"]:
    fields: dict[fleet.VersionStatus, Literal["upToDate", "behindMinor", "behindMajor"]] = {
        fleet.VersionStatus.UP_TO_DATE: "upToDate",
        fleet.VersionStatus.BEHIND_MINOR: "behindMinor",
        fleet.VersionStatus.BEHIND_MAJOR: "behindMajor",
    }
    return fields[fleet.VersionStatus(status)]


@functools.cache
def _totals_statement() -> Select[Any]:
    """Rows of (kind, failed, resources) for every kind but the per-service parts."""
    return (
        select(ResourceCount.kind, ResourceCount.failed, func.sum(ResourceCount.resources))
        .where(ResourceCount.kind != CountedKind.SERVICE_PART, ResourceCount.resources != 0)
        .group_by(ResourceCount.kind, ResourceCount.failed)
    )


@functools.cache
def _version_status_statement() -> Select[Any]:
    """Rows of (kind, version status, resources) for environments, instances and pipelines."""
    groups = (
        select(
            ResourceCount.kind,
            ResourceCount.template_id,
            ResourceCount.major,
            ResourceCount.minor,
            func.sum(ResourceCount.resources).label("resources"),
        )
        .where(ResourceCount.kind.in_(list(_VERSIONED)), ResourceCount.resources != 0)
        .group_by(
            ResourceCount.kind, ResourceCount.template_id, ResourceCount.major, ResourceCount.minor
        )
        .subquery()
    )
    stmt, status = fleet.with_version_status(
        select(groups.c.kind, groups.c.resources),
        groups.c.template_id,
        groups.c.major,
        groups.c.minor,
    )
    classified = stmt.add_columns(status.label("status")).subquery()
    return select(
        classified.c.kind, classified.c.status, func.sum(classified.c.resources)
    ).group_by(classified.c.kind, classified.c.status)


@functools.cache
def _service_staleness_statement() -> Select[Any]:
    """Rows of (rank of the stalest part, services)."""
    parts, status = fleet.with_version_status(
        select(ResourceCount.service_id.label("service_id")).where(
            ResourceCount.kind == CountedKind.SERVICE_PART, ResourceCount.resources != 0
        ),
        ResourceCount.template_id,
        ResourceCount.major,
        ResourceCount.minor,
    )
    ranked = parts.add_columns(_ranked(status).label("rank")).subquery()
    per_service = (
        select(ranked.c.service_id, func.max(ranked.c.rank).label("rank"))
        .group_by(ranked.c.service_id)
        .subquery()
    )
    return select(per_service.c.rank, func.count()).group_by(per_service.c.rank)


def _ranked(status: Any) -> Any:
    return case(*((status == name, value) for name, value in _RANK.items()), else_=0)
