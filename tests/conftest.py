"""Fixtures: one shared live Baryon for API tests; tests that restart it start their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import BaryonProcess, start_baryon
from tests.support.samples import SAMPLES


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
