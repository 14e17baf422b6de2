"""Sync attempts and their events, as GetTemplateSyncStatus, GetServiceInstanceSyncStatus and
GetRepositorySyncStatus report them: one row per attempt, events appended as it goes."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from baryon.domain.git import SyncScope
from baryon.service_models import proton
from baryon.store.tables import SyncAttemptRow


@dataclass(frozen=True)
class Revision:
    """proton.Revision: where a sync read its content."""

    repository_provider: str
    repository_name: str
    branch: str
    sha: str
    directory: str

    def wire(self) -> proton.Revision:
        return {
            "repositoryProvider": proton.RepositoryProvider(self.repository_provider),
            "repositoryName": self.repository_name,
            "branch": self.branch,
            "sha": self.sha,
            "directory": self.directory,
        }


def start(
    session: Session,
    sync_type: proton.SyncType,
    scope: SyncScope,
    target: str,
    now: datetime,
    *,
    initial: Revision | None = None,
    desired: Revision | None = None,
    status: str = proton.ResourceSyncStatus.INITIATED,
) -> SyncAttemptRow:
    row = SyncAttemptRow(
        sync_type=sync_type,
        scope=scope,
        target=target,
        status=status,
        started_at=now,
        initial_revision=initial.wire() if initial else None,
        target_revision=desired.wire() if desired else None,
        events=[],
    )
    session.add(row)
    session.flush()
    return row


def add_event(
    row: SyncAttemptRow,
    event: str,
    event_type: str,
    now: datetime,
    *,
    external_id: str | None = None,
    status: str | None = None,
) -> None:
    """Appends an event (a new list, so the JSON column is seen as changed) and, when given,
    moves the attempt to ``status``."""
    entry = {"event": event, "type": event_type, "time": now.isoformat()}
    if external_id:
        entry["externalId"] = external_id
    row.events = [*row.events, entry]
    if status is not None:
        row.status = status


def latest(
    session: Session, sync_type: str, scope: SyncScope, target: str, *, status: str | None = None
) -> SyncAttemptRow | None:
    params = {"sync_type": sync_type, "scope": scope, "target": target, "status": status}
    return session.scalar(_latest(status is not None), params)


# Built once (building a select and its cache key costs more than running it: issue 17).
@functools.cache
def _latest(with_status: bool) -> Select[tuple[SyncAttemptRow]]:
    stmt = select(SyncAttemptRow).where(
        SyncAttemptRow.sync_type == bindparam("sync_type"),
        SyncAttemptRow.scope == bindparam("scope"),
        SyncAttemptRow.target == bindparam("target"),
    )
    if with_status:
        stmt = stmt.where(SyncAttemptRow.status == bindparam("status"))
    return stmt.order_by(SyncAttemptRow.id.desc()).limit(1)


def wire_attempt(row: SyncAttemptRow) -> proton.ResourceSyncAttempt:
    """A resource attempt as the model shapes it (events' times back to datetimes)."""
    return {
        "status": proton.ResourceSyncStatus(row.status),
        "startedAt": row.started_at,
        "target": row.target.split("/", 1)[-1],
        "initialRevision": row.initial_revision or row.target_revision or {},  # type: ignore[typeddict-item]
        "targetRevision": row.target_revision or {},  # type: ignore[typeddict-item]
        "events": [_wire_event(e) for e in row.events],
    }


def wire_repository_attempt(row: SyncAttemptRow) -> proton.RepositorySyncAttempt:
    return {
        "status": proton.RepositorySyncStatus(row.status),
        "startedAt": row.started_at,
        "events": [_wire_event(e) for e in row.events],
    }


def _wire_event(entry: dict[str, str]) -> proton.ResourceSyncEvent:
    event: proton.ResourceSyncEvent = {
        "event": entry["event"],
        "type": entry["type"],
        "time": datetime.fromisoformat(entry["time"]),
    }
    if entry.get("externalId"):
        event["externalId"] = entry["externalId"]
    return event
