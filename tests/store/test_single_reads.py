"""Database.single_read: on PostgreSQL one read statement runs outside any transaction (one
round trip, not BEGIN, statement, ROLLBACK), and the pooled connection it used runs sessions
in transactions again afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from baryon.store.database import Database


@pytest.fixture
def database(postgres_server: Any) -> Iterator[Database]:
    db = Database(postgres_server.create_database())
    db.migrate()
    yield db
    db.dispose()


def _status(connection: Any) -> TransactionStatus:
    return TransactionStatus(connection.connection.dbapi_connection.info.transaction_status)


def test_a_single_read_runs_outside_a_transaction_and_sessions_still_run_in_one(
    database: Database,
) -> None:
    assert isinstance(database.engine.pool, QueuePool)
    with database.single_read() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
        assert _status(connection) is TransactionStatus.IDLE
    with database.session() as session:
        session.execute(text("SELECT 1"))
        assert _status(session.connection()) is TransactionStatus.INTRANS
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        assert _status(connection) is TransactionStatus.INTRANS
