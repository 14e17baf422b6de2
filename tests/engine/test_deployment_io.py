"""A deployment's log lines are written in batches (issue 17), yet the log stays live: what was
logged is visible at the next poll, and each line keeps the moment it was logged."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import select

from baryon.engine import deployment_io
from baryon.engine.deployment_io import DatabaseDeploymentIO
from baryon.engine.handlers import LeaseLost
from baryon.engine.worker_runtime import WorkerRuntime
from baryon.store.database import Database
from baryon.store.tables import Deployment, DeploymentEvent

DEPLOYMENT = "d-1"


@dataclass
class Runtime:
    db: Database


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'baryon.db'}")
    db.migrate()
    now = datetime.now(UTC)
    with db.session(write=True) as session:
        session.add(
            Deployment(
                id=DEPLOYMENT,
                target_type="ENVIRONMENT",
                target_arn="arn:aws:proton:us-east-1:123456789012:environment/dev",
                operation="DEPLOY",
                environment_name="dev",
                status="IN_PROGRESS",
                cancel_requested=False,
                plan={"format": 2},
                target_resource_created_at=now,
                created_at=now,
                last_modified_at=now,
            )
        )
    yield db
    db.dispose()


def _io(db: Database, lease_lost: threading.Event | None = None) -> DatabaseDeploymentIO:
    runtime = cast(WorkerRuntime, Runtime(db))
    return DatabaseDeploymentIO(runtime, DEPLOYMENT, lease_lost or threading.Event())


def _logged(db: Database) -> list[str]:
    with db.session() as session:
        rows = session.scalars(
            select(DeploymentEvent.message)
            .where(DeploymentEvent.deployment_id == DEPLOYMENT)
            .order_by(DeploymentEvent.id)
        )
        return list(rows)


def test_lines_wait_for_the_next_poll_and_are_then_written_in_order(database: Database) -> None:
    io = _io(database)
    io.log("Deploying stack dev.")
    io.log("updating stack dev")
    assert _logged(database) == []
    io.heartbeat()  # every wait heartbeats
    assert _logged(database) == ["Deploying stack dev.", "updating stack dev"]
    io.heartbeat()  # nothing new: nothing written twice
    assert _logged(database) == ["Deploying stack dev.", "updating stack dev"]


def test_a_line_long_after_the_first_kept_one_writes_them_all(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deployment_io, "FLUSH_SECONDS", 0.0)  # every line is "long after"
    io = _io(database)
    io.log("terraform: Initializing...")
    assert _logged(database) == ["terraform: Initializing..."]


def test_pending_lines_go_in_the_outcomes_transaction_with_their_own_time(
    database: Database,
) -> None:
    io = _io(database)
    io.log("first")
    logged_by = datetime.now(UTC)
    with database.session(write=True) as session:
        io.write_pending(session)
    with database.session() as session:
        event = session.scalars(select(DeploymentEvent)).one()
    assert event.message == "first" and event.at <= logged_by
    io.heartbeat()
    assert _logged(database) == ["first"]  # written once


def test_a_lost_lease_still_leaves_the_lines_logged_before_it(database: Database) -> None:
    lost = threading.Event()
    io = _io(database, lost)
    io.log("updating stack dev")
    lost.set()
    with pytest.raises(LeaseLost):
        io.heartbeat()
    assert _logged(database) == ["updating stack dev"]


def test_a_cancel_read_just_before_counts_as_this_seconds_check(database: Database) -> None:
    with database.session(write=True) as session:
        session.get(Deployment, DEPLOYMENT).cancel_requested = True  # after the caller's read
    runtime = cast(WorkerRuntime, Runtime(database))
    told = DatabaseDeploymentIO(runtime, DEPLOYMENT, threading.Event(), cancel_requested=False)
    assert not told.cancel_requested()  # the caller's reading stands for a second
    assert _io(database).cancel_requested()  # without one, the database is read
