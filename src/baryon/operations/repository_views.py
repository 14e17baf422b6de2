"""Read model of a repository's sync history: its latest sync attempts on every branch, newest
first, as GetRepositorySyncStatus reports each one (that operation reports only the latest of
one branch and sync type; a page shows them all). Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from baryon.domain.git import SyncScope
from baryon.domain.sync_attempts import wire_repository_attempt
from baryon.operations.context import RequestContext
from baryon.service_models import proton
from baryon.store.tables import SyncAttemptRow

MAX_ATTEMPTS = 20
# A page shows the last events of an attempt; the rest are counted.
MAX_EVENTS = 100


@dataclass(frozen=True)
class RepositoryAttempt:
    sync_type: proton.SyncType
    branch: str
    attempt: proton.RepositorySyncAttempt  # events oldest first, at most MAX_EVENTS
    hidden_events: int  # earlier events left out


def repository_attempts(
    ctx: RequestContext, provider: str, name: str, limit: int = MAX_ATTEMPTS
) -> list[RepositoryAttempt]:
    """The repository's latest sync attempts, of every branch and sync type, newest first."""
    # The target is "<provider>/<owner>/<name>@<branch>" (store/tables.py, SyncAttemptRow).
    prefix = f"{provider}/{name}@"
    with ctx.db.session() as session:
        rows = session.scalars(
            select(SyncAttemptRow)
            .where(
                SyncAttemptRow.scope == SyncScope.REPOSITORY,
                SyncAttemptRow.target.startswith(prefix, autoescape=True),
            )
            .order_by(SyncAttemptRow.id.desc())
            .limit(max(1, min(limit, MAX_ATTEMPTS)))
        )
        return [_attempt(row, prefix) for row in rows]


def _attempt(row: SyncAttemptRow, prefix: str) -> RepositoryAttempt:
    attempt = wire_repository_attempt(row)
    hidden = max(0, len(attempt["events"]) - MAX_EVENTS)
    attempt["events"] = attempt["events"][hidden:]
    return RepositoryAttempt(
        sync_type=proton.SyncType(row.sync_type),
        branch=row.target[len(prefix) :],
        attempt=attempt,
        hidden_events=hidden,
    )
