"""Store tests run twice: on SQLite and on the suite's real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from baryon.store.database import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'baryon.db'}"
    else:
        server: Any = request.getfixturevalue("postgres_server")
        url = server.create_database()
    db = Database(url)
    db.migrate()
    yield db
    db.dispose()
