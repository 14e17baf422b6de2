"""Database.single_read: on PostgreSQL reads run outside any transaction (one round trip a
statement, no BEGIN, COMMIT or ROLLBACK), on connections of their own, while sessions still
run in transactions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import select, text
from sqlalchemy.pool import QueuePool

from baryon.store.database import Database
from baryon.store.tables import Tag


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


def test_single_reads_keep_their_own_connections_in_autocommit_between_uses(
    database: Database,
) -> None:
    """Autocommit is set once, when the read pool opens a connection, not set on each checkout
    and reset on each return (as sharing the transactions' pool did)."""
    with database.single_read() as connection:
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None and dbapi_connection.autocommit
    assert dbapi_connection.autocommit
    with database.single_read() as connection:
        assert connection.connection.dbapi_connection is dbapi_connection
    with database.session() as session:
        assert session.connection().connection.dbapi_connection is not dbapi_connection


def test_a_single_read_session_reads_mapped_rows_outside_a_transaction(
    database: Database,
) -> None:
    with database.session(write=True) as session:
        session.add(
            Tag(resource_arn="arn:aws:proton:us-east-1:1:environment/dev", key="team", value="a")
        )
    with database.single_read_session() as session:
        row = session.scalars(select(Tag).where(Tag.key == "team")).one()
        assert row.value == "a"
        assert _status(session.connection()) is TransactionStatus.IDLE
