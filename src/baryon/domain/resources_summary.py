"""GetResourcesSummary: how many templates, environments, services, instances, pipelines
and components there are, and how many of each are up to date, behind a minor or major
version, or failed.

Read from the maintained counts (store/resource_counts.py), not from the resources: one
statement over a handful of rows whatever the size of the fleet. The counts are per deployed
version; whether a version is up to date depends on the recommended versions of the moment,
so it is worked out here, for those few (template, version) rows. A service is as stale as
its stalest part, and the services are counted by that part's version (SERVICE_STALEST), so
they are classified the same way as the instances.

The statement never changes, so it is built once per process.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from baryon.domain import fleet
from baryon.service_models import proton
from baryon.store.resource_counts import CountedKind
from baryon.store.tables import ResourceCount

# Every kind but the per-service parts (SERVICE_PART), which only keep SERVICE_STALEST right.
_READ = [kind for kind in CountedKind if kind is not CountedKind.SERVICE_PART]


def resources_summary(session: Session) -> proton.CountsSummary:
    totals: Counter[tuple[CountedKind, bool]] = Counter()
    # Only read for the kinds that have a deployed version (the others' status means nothing).
    by_status: Counter[tuple[CountedKind, fleet.VersionStatus]] = Counter()
    for kind_name, failed, status, resources in session.execute(_summary_statement()):
        kind, n = CountedKind(kind_name), int(resources)
        totals[kind, bool(failed)] += n
        by_status[kind, fleet.VersionStatus(status)] += n

    def total(kind: CountedKind) -> int:
        return totals[kind, False] + totals[kind, True]

    def versioned(kind: CountedKind) -> proton.ResourceCountsSummary:
        return {
            "total": total(kind),
            "failed": totals[kind, True],
            "upToDate": by_status[kind, fleet.VersionStatus.UP_TO_DATE],
            "behindMinor": by_status[kind, fleet.VersionStatus.BEHIND_MINOR],
            "behindMajor": by_status[kind, fleet.VersionStatus.BEHIND_MAJOR],
        }

    services = total(CountedKind.SERVICE)
    behind_minor = by_status[CountedKind.SERVICE_STALEST, fleet.VersionStatus.BEHIND_MINOR]
    behind_major = by_status[CountedKind.SERVICE_STALEST, fleet.VersionStatus.BEHIND_MAJOR]
    return {
        "environmentTemplates": {"total": total(CountedKind.ENVIRONMENT_TEMPLATE)},
        "serviceTemplates": {"total": total(CountedKind.SERVICE_TEMPLATE)},
        "environments": versioned(CountedKind.ENVIRONMENT),
        "serviceInstances": versioned(CountedKind.SERVICE_INSTANCE),
        "pipelines": versioned(CountedKind.SERVICE_PIPELINE),
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


@functools.cache
def _summary_statement() -> Select[Any]:
    """Rows of (kind, failed, version status, resources): each bucket but the parts is one row
    already (their service_id is 0), classified against the recommended versions."""
    stmt, status = fleet.with_version_status(
        select(ResourceCount.kind, ResourceCount.failed, ResourceCount.resources).where(
            ResourceCount.kind.in_(_READ), ResourceCount.resources != 0
        ),
        ResourceCount.template_id,
        ResourceCount.major,
        ResourceCount.minor,
    )
    classified = stmt.add_columns(status.label("status")).subquery()
    return select(
        classified.c.kind,
        classified.c.failed,
        classified.c.status,
        func.sum(classified.c.resources),
    ).group_by(classified.c.kind, classified.c.failed, classified.c.status)
