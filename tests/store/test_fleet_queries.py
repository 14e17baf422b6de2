"""Fleet-wide queries (GetResourcesSummary, ListServiceInstances filtered by version status)
agree with a plain count of the rows, on SQLite and on PostgreSQL, over a mixed fleet."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import baryon.operations  # noqa: F401  (registers the handlers)
from baryon.operations import registry
from baryon.operations.context import RequestContext
from baryon.runtime import Runtime, build_runtime
from baryon.settings import load_settings
from baryon.store.tables import ServiceInstance
from tests.support import fleet_seed
from tests.support.principals import ADMIN

INSTANCES, PER_SERVICE = 240, 7
RECOMMENDED = max(fleet_seed.FLEET_VERSIONS)[:2]


@pytest.fixture(params=["sqlite", "postgresql"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    overrides: dict[str, Any] = {"data_dir": tmp_path / "data"}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("postgres_server").create_database()
    runtime = build_runtime(load_settings(overrides, environ={}))
    fleet_seed.seed(runtime.settings.sqlalchemy_url, INSTANCES, per_service=PER_SERVICE)
    yield runtime
    runtime.close()


def _call(runtime: Runtime, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    handler = registry.handler_for("proton", operation)
    assert handler is not None
    context = RequestContext(
        runtime, operation, "test", "test", datetime.now(UTC), _principal=ADMIN
    )
    return handler(context, request)


def _status(major: int, minor: int) -> str:
    if major < RECOMMENDED[0]:
        return "BEHIND_MAJOR"
    return "BEHIND_MINOR" if minor < RECOMMENDED[1] else "UP_TO_DATE"


def _expected(runtime: Runtime) -> tuple[Counter[str], int, Counter[str]]:
    """Per version status: instances, failed instances, and services (stalest part)."""
    columns = (
        ServiceInstance.service_name,
        ServiceInstance.template_major,
        ServiceInstance.template_minor,
        ServiceInstance.deployment_status,
    )
    with runtime.db.session() as session:
        rows = session.execute(select(*columns)).all()
    rank = {"UP_TO_DATE": 0, "BEHIND_MINOR": 1, "BEHIND_MAJOR": 2}
    instances: Counter[str] = Counter()
    stalest: dict[str, str] = {}
    for service, major, minor, _ in rows:
        status = _status(major, minor)
        instances[status] += 1
        if rank[status] >= rank[stalest.get(service, "UP_TO_DATE")]:
            stalest[service] = status
    failed = sum(1 for row in rows if row.deployment_status == "FAILED")
    return instances, failed, Counter(stalest.values())


def test_resources_summary_counts_every_instance_once(runtime: Runtime) -> None:
    instances, failed, services = _expected(runtime)
    # The seeded fleet is mixed enough for the comparison to mean something.
    assert all(instances[status] > 0 for status in ("UP_TO_DATE", "BEHIND_MINOR", "BEHIND_MAJOR"))
    assert failed > 0 and services["BEHIND_MAJOR"] > 0

    counts = _call(runtime, "GetResourcesSummary", {})["counts"]

    assert counts["serviceInstances"] == {
        "total": INSTANCES,
        "failed": failed,
        "upToDate": instances["UP_TO_DATE"],
        "behindMinor": instances["BEHIND_MINOR"],
        "behindMajor": instances["BEHIND_MAJOR"],
    }
    assert counts["services"] == {
        "total": -(-INSTANCES // PER_SERVICE),
        "failed": 0,
        "upToDate": services["UP_TO_DATE"],
        "behindMinor": services["BEHIND_MINOR"],
        "behindMajor": services["BEHIND_MAJOR"],
    }
    assert counts["environments"]["total"] == 10 and counts["environments"]["upToDate"] == 10


@pytest.mark.parametrize("status", ["UP_TO_DATE", "BEHIND_MINOR", "BEHIND_MAJOR"])
def test_listing_filtered_by_version_status_matches_the_summary(
    runtime: Runtime, status: str
) -> None:
    instances, _, _ = _expected(runtime)
    filters = [{"key": "deployedTemplateVersionStatus", "value": status}]
    found, token = [], None
    while True:
        request: dict[str, Any] = {"filters": filters, "maxResults": 50}
        if token:
            request["nextToken"] = token
        page = _call(runtime, "ListServiceInstances", request)
        found += page["serviceInstances"]
        token = page.get("nextToken")
        if not token:
            break
    assert len(found) == instances[status]
    assert all(
        _status(int(item["templateMajorVersion"]), int(item["templateMinorVersion"])) == status
        for item in found
    )
