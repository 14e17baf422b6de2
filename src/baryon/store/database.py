"""Engine, sessions and migrations for SQLite and PostgreSQL.

SQLite runs in WAL mode so readers never wait for the writer; write transactions start with
BEGIN IMMEDIATE so two writers queue on the lock instead of failing halfway through with
"database is locked" when a read lock cannot be upgraded.
"""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_BEGIN_MODE = "baryon_sqlite_begin"
# Any fixed 64-bit number: serializes concurrent migrations of several PostgreSQL replicas.
_MIGRATION_LOCK_ID = 7_314_159_265


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.engine = _create_engine(url, self.is_sqlite)
        self._read = sessionmaker(bind=self.engine, expire_on_commit=False)
        writer = self.engine.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})
        self._write = sessionmaker(bind=writer, expire_on_commit=False)
        # PostgreSQL: one statement is its own snapshot, so a lone read needs no transaction
        # around it, and without one it costs one round trip instead of three (BEGIN, the
        # statement, ROLLBACK). SQLite's BEGIN costs no round trip: it keeps it.
        # Its own pool, whose connections are put in autocommit once, when opened: the main
        # engine with an AUTOCOMMIT execution option shared the pool but set the isolation
        # level on each checkout and reset it on each return (~4% of a Get's server CPU).
        # Public for what listens to every statement (tests count them): on SQLite it is
        # ``engine`` itself.
        self.read_engine = (
            self.engine if self.is_sqlite else _create_engine(url, False, autocommit=True)
        )

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        factory = self._write if write else self._read
        with factory() as session, session.begin():
            yield session

    @contextmanager
    def single_read(self) -> Iterator[Connection]:
        """A connection for reads that need not be atomic together (a key, the policy
        generation, a Get's row, a List's page): on PostgreSQL outside any transaction, each
        statement on its own snapshot, so nothing it runs is atomic with anything else."""
        with self.read_engine.connect() as connection:
            yield connection

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """PostgreSQL: ``single_read``'s connection for a write that is one statement, its own
        transaction (a job's claim): one round trip instead of BEGIN, it and COMMIT. Not on
        SQLite, whose connections always begin a transaction."""
        if self.is_sqlite:
            raise RuntimeError("autocommit statements are for PostgreSQL only")
        with self.read_engine.connect() as connection:
            yield connection

    @contextmanager
    def single_read_session(self) -> Iterator[Session]:
        """``single_read`` for reads through mapped classes: a session on that connection,
        so on PostgreSQL no BEGIN and ROLLBACK round trips around the statements (an
        authorization decision's facts: the resource and its tags)."""
        with self.single_read() as connection, Session(bind=connection) as session:
            yield session

    def migrate(self) -> None:
        """Applies every pending Alembic migration (safe to call from many processes)."""
        with self.engine.connect() as connection:
            if not self.is_sqlite:
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            try:
                config = alembic_config(self.url)
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()
            finally:
                if not self.is_sqlite:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID}
                    )
                    connection.commit()

    def create_schema(self, name: str) -> None:
        """PostgreSQL: makes the schema a region's tables live in (modes/regions.py), under
        the migration lock so that replicas starting together do not race to make it."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            try:
                quoted = connection.dialect.identifier_preparer.quote_identifier(name)
                connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
                connection.commit()
            finally:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID}
                )
                connection.commit()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _create_engine(url: str, is_sqlite: bool, *, autocommit: bool = False) -> Engine:
    if not is_sqlite:
        # Short timeouts: while the database is away, callers get an error in seconds
        # (clients retry) instead of hanging on a connect.
        engine = create_engine(
            url,
            # Not pool_pre_ping: its SELECT 1 is a round trip on every checkout, so one per
            # request (bench.api_latency: GetServiceInstance 3.8 -> 3.2 ms of server CPU per
            # request without it); _drop_closed below finds the same dead connections (a
            # restart, a terminated backend) without a round trip.
            # Enough kept connections for a busy server's request threads: connections beyond
            # the pool are opened and closed per request, which cost more than the query.
            # The lone-read pool is smaller: its statements are single and short, and each
            # connection kept counts against PostgreSQL's max_connections (100 by default)
            # for every server process (docs/scaled-mode.md).
            pool_size=10 if autocommit else 20,
            max_overflow=10 if autocommit else 20,
            pool_timeout=5,
            connect_args={"connect_timeout": 3},
            **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
        )
        event.listen(engine, "checkout", _drop_closed)
        return engine
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Take transaction control away from pysqlite so that "begin" below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        mode = connection.get_execution_options().get(_BEGIN_MODE, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _drop_closed(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    """Refuses a pooled PostgreSQL connection the server has closed (a restart, a failover,
    an administrator's pg_terminate_backend), so the pool opens a fresh one (DisconnectionError
    asks it to) instead of failing the request.

    An idle connection's socket has nothing to read: the server speaks only when asked. Once
    the server has closed it, the socket is readable (its goodbye message, then end of file),
    which a zero-timeout poll sees without a round trip. Whatever else could be waiting there
    (a notice) also means the connection is not plainly idle: dropping it costs a reconnect.
    """
    if dbapi_connection.closed:
        raise DisconnectionError("the pooled connection is closed")
    poll = select.poll()
    poll.register(dbapi_connection.fileno(), select.POLLIN)
    if poll.poll(0):
        raise DisconnectionError("the server closed the pooled connection")
