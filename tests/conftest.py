"""Fixtures: one shared live Baryon for API tests; tests that restart it start their own."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import BaryonProcess, start_baryon
from tests.support.samples import SAMPLES

# Seconds each file took in a whole run (tools/test_weights.py writes it from a JUnit xml).
FILE_WEIGHTS = Path(__file__).parent / "file_weights.json"


def pytest_configure(config: pytest.Config) -> None:
    # xdist's loadfile otherwise reorders files by how many tests they hold, which puts a
    # long file of two tests last; the order pytest_collection_modifyitems gives must stand.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files heaviest first, so the run's tail is short files rather than one worker in a long
    one; tests keep their order within a file. Every xdist worker collects on its own and
    must list the same order: it depends only on the checked-in weights and the collection.
    A file with no weight yet counts as a middling one (the median)."""
    weights: dict[str, float] = json.loads(FILE_WEIGHTS.read_text())
    unknown = statistics.median(weights.values()) if weights else 0.0
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(item.nodeid.split("::", 1)[0], len(first_seen))

    def heaviest_first(item: pytest.Item) -> tuple[float, int]:
        path = item.nodeid.split("::", 1)[0]
        return (-weights.get(path, unknown), first_seen[path])

    # sort is stable: within a file the collection order stays.
    items.sort(key=heaviest_first)


@pytest.fixture(scope="session")
def baryon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    process = start_baryon(tmp_path_factory.mktemp("baryon-shared"))
    yield process
    process.stop()


@pytest.fixture(scope="session")
def proton(baryon: BaryonProcess) -> Any:
    return baryon.client("proton")


@pytest.fixture(scope="session")
def s3(baryon: BaryonProcess) -> Any:
    return baryon.client("s3")


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not beside this checkout")
    return SAMPLES


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One private PostgreSQL server for the whole run (never skipped: CI installs it)."""
    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    server.start()
    yield server
    server.destroy()
