"""/readyz and the queue depth in /metrics cover every region one Baryon serves, not the home
region alone: a region whose database is away makes the process unready, and each region's
queue is counted under its own label."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from baryon.app import create_app
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings
from baryon.store import jobs
from baryon.store.jobs import JobKind

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note that its TestClient prefers httpx2
    from starlette.testclient import TestClient

HOME, OTHER = "us-east-1", "eu-west-1"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(Settings(data_dir=tmp_path, region=HOME, regions=f"{HOME},{OTHER}"))
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as client:
        yield client


def _cell(runtime: Runtime, region: str) -> Runtime:
    cell = runtime.cells.get(region)
    assert cell is not None
    return cell


def _queue_depth(client: TestClient) -> dict[tuple[str, str], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.text):
        if family.name == "baryon_job_queue_depth":
            for sample in family.samples:
                found[(sample.labels["region"], sample.labels["status"])] = sample.value
    return found


def test_a_baryon_whose_every_region_is_reachable_is_ready(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"


def test_a_region_whose_database_is_away_makes_the_baryon_unready_and_is_named(
    runtime: Runtime, client: TestClient
) -> None:
    other = _cell(runtime, OTHER)
    other.db.dispose()
    # The region's database file gives way to a folder: SQLite can open it no more.
    path = runtime.settings.data_dir / "regions" / f"{OTHER}.db"
    path.rename(path.with_suffix(".away"))
    path.mkdir()
    response = client.get("/readyz")
    assert response.status_code == 503, response.text
    assert response.json()["status"] == "unavailable"
    assert OTHER in response.json()["reason"]


def test_the_queue_depth_is_counted_for_each_region_under_its_label(
    runtime: Runtime, client: TestClient
) -> None:
    now = datetime.now(UTC)
    with _cell(runtime, OTHER).db.session(write=True) as session:
        for number in range(2):
            jobs.enqueue(session, JobKind.DEPLOY, {"n": number}, now)
    with runtime.db.session(write=True) as session:
        jobs.enqueue(session, JobKind.DEPLOY, {"n": 9}, now)
    depth = _queue_depth(client)
    assert depth[(OTHER, "QUEUED")] == 2
    assert depth[(HOME, "QUEUED")] == 1
    assert depth[(HOME, "RUNNING")] == 0
