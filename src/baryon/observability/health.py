"""Liveness (the process answers) and readiness (it can serve: database reachable and on the
schema this code expects). Load balancers route by readiness; supervisors restart on liveness.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from alembic.script import ScriptDirectory
from sqlalchemy import text

from baryon.store.database import Database, alembic_config


@cache
def expected_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def readiness_of_regions(databases: Mapping[str, Database]) -> tuple[bool, str]:
    """(ready, reason) over every region's database, home first: a process that cannot
    reach one region's cannot serve that region, so it is not ready (the reason names it)."""
    for region, db in databases.items():
        ok, reason = readiness(db)
        if not ok:
            return False, f"region {region}: {reason}" if len(databases) > 1 else reason
    return True, "ready"


def readiness(db: Database) -> tuple[bool, str]:
    """(ready, reason); never raises, never waits long (the pool's timeouts bound it)."""
    try:
        with db.session() as session:
            session.execute(text("SELECT 1"))
            current = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # any failure means "not ready", with the reason for operators
        return False, f"database unavailable: {type(exc).__name__}"
    expected = expected_revision(db.url)
    if current != expected:
        return False, f"database schema is at {current}, this release needs {expected}"
    return True, "ready"
