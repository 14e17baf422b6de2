"""A pooled PostgreSQL connection the server has closed is replaced at checkout, without the
round trip of a ping per checkout (store/database.py): the next transaction works instead of
failing, and a healthy pool asks the server nothing beyond the transaction's own statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from baryon.store.database import Database
from baryon.store.tables import ServiceInstance
from tests.support.waiting import eventually


@pytest.fixture
def database(postgres_server: Any) -> Iterator[Database]:
    db = Database(postgres_server.create_database())
    db.migrate()
    yield db
    db.dispose()


def _backend_pid(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")))


def test_a_connection_the_server_terminated_is_replaced_and_the_read_works(
    database: Database,
) -> None:
    pid = _backend_pid(database)
    assert _backend_pid(database) == pid  # the pool hands the same connection back
    # Another client's connection: the pool's only one is the one to end.
    # Autocommit: pg_stat_activity is read once per transaction, so polling it inside one
    # transaction would see the backend forever.
    observer = create_engine(database.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with observer.connect() as other:
        assert other.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # The backend is gone once pg_stat_activity no longer shows it (seconds on a busy
        # machine: it exits when the scheduler gets to it).
        eventually(
            lambda: (
                not other.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                )
            ),
            "exit of the terminated backend",
        )
    with database.session() as session:
        assert session.scalars(select(ServiceInstance)).all() == []
        assert session.scalar(text("SELECT pg_backend_pid()")) != pid


def test_a_healthy_pooled_connection_is_not_pinged_at_checkout(database: Database) -> None:
    _backend_pid(database)  # one connection in the pool
    pings: list[object] = []
    dialect = database.engine.dialect
    ping = dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    dialect.do_ping = counted  # type: ignore[method-assign]
    try:
        for _ in range(3):
            assert _backend_pid(database)
    finally:
        del dialect.do_ping
    assert pings == []
