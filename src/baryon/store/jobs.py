"""The durable job queue, kept in the same database as the desired state.

A domain change writes its desired state and ``enqueue``s a job in ONE transaction, so a job
exists exactly when its state change does. Workers ``claim`` a job with a lease; a worker
that dies simply lets its lease expire and another worker claims the job again, which is why
every job step must be idempotent. The queue lives in store/ because claiming is
engine-specific SQL (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), and so that domain/ can ask
for a job without knowing who runs it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Update,
    and_,
    bindparam,
    case,
    delete,
    false,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from baryon.store.database import Database
from baryon.store.tables import Job


class JobKind(StrEnum):
    """What a job does; the engine registers one handler per kind."""

    DEPLOY = "deploy"
    REGISTER_TEMPLATE_VERSION = "register-template-version"
    # git (issue 13). A branch moved: {"provider", "name", "branch", "sha"}.
    REPOSITORY_CHANGED = "repository-changed"
    # Fetches every watched branch and open pull request; re-enqueues itself.
    POLL_REPOSITORIES = "poll-repositories"
    # Syncs one template from its repository: {"template_type", "template_name"}.
    TEMPLATE_SYNC = "template-sync"
    # Syncs one service's instances from its proton-ops file: {"service_name"}.
    SERVICE_SYNC = "service-sync"
    # Looks at a self-managed deployment's pull request: {"deployment_id"}.
    PULL_REQUEST = "pull-request"
    # Plans (and applies) one import from AWS Proton: {"import_id"} (issue 14).
    IMPORT = "import"
    # Ends a deployment held for approval that nobody decided on in time: {"deployment_id"}.
    APPROVAL_EXPIRY = "approval-expiry"
    # One look at a rollout: starts, counts, gates and moves it on; re-enqueues itself while
    # it runs (engine/rollouts.py): {"rollout_id"}.
    ROLLOUT = "rollout"
    # Queues a look for every rollout that needs one and has none waiting or running (a lost
    # or failed look must not leave a rollout idle); re-enqueues itself: {}.
    ROLLOUT_SWEEP = "rollout-sweep"
    # Plans each resource of a fleet preview (a change set or a saved plan): {"preview_id"}.
    FLEET_PREVIEW = "fleet-preview"
    # Deletes the change sets a deleted fleet preview kept: {"change_sets": [...]}.
    FLEET_PREVIEW_CLEANUP = "fleet-preview-cleanup"
    # Checks one resource for drift (issue 18): {"check_id"}.
    DRIFT_CHECK = "drift-check"
    # Asks for a drift check of every resource due one; re-enqueues itself: {}.
    DRIFT_SCHEDULE = "drift-schedule"


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    # As stored: a row may name a kind this build has no handler for (the worker fails it).
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this one
    # Its worker stopped (the lease expired) during its last allowed attempt: it must not run
    # again, only be given up (its handler records the failure), or a job that kills its
    # worker every time would be claimed forever.
    exhausted: bool = False


def enqueue(session: Session, kind: JobKind, payload: dict[str, Any], now: datetime) -> Job:
    """Adds a job to ``session``'s transaction: it exists only if that transaction commits."""
    job = Job(
        kind=kind,
        payload=payload,
        status=JobStatus.QUEUED,
        attempts=0,
        run_after=now,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    return job


def enqueue_once(
    session: Session,
    kind: JobKind,
    payload: dict[str, Any],
    now: datetime,
    *,
    run_after: datetime | None = None,
) -> Job | None:
    """Enqueues unless the same job is already waiting to run (QUEUED, same payload): for work
    that is asked for again and again (a branch moved twice, a poll) and must run once per
    wake-up, the later one covering the earlier. A waiting job that would run later than
    ``run_after`` is brought forward. Returns the new job, or None when one was waiting."""
    when = run_after or now
    waiting = session.scalars(
        select(Job).where(Job.kind == kind, Job.status == JobStatus.QUEUED).with_for_update()
    )
    for job in waiting:
        if job.payload == payload:
            if job.run_after > when:
                job.run_after = when
            return None
    job = enqueue(session, kind, payload, now)
    job.run_after = when
    return job


def forget_finished(session: Session, kinds: Sequence[JobKind], *, before: datetime) -> None:
    """Deletes DONE jobs of recurring kinds (polls), which would otherwise pile up forever."""
    session.execute(
        delete(Job).where(
            Job.kind.in_(list(kinds)), Job.status == JobStatus.DONE, Job.updated_at < before
        )
    )


def claim(
    db: Database, owner: str, lease: timedelta, *, max_attempts: int | None = None
) -> ClaimedJob | None:
    """Leases the next runnable job to ``owner``. A job whose lease expired after
    ``max_attempts`` attempts comes back ``exhausted``, its attempts not counted up, for the
    worker to give up. ``max_attempts`` None: no limit (tests claiming by hand)."""
    now = datetime.now(UTC)
    if db.is_sqlite:
        ready = or_(
            and_(Job.status == JobStatus.QUEUED, Job.run_after <= now),
            and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now),
        )
        return _claim_in_session(db, ready, owner, lease, now, max_attempts)
    values = {"now": now, "owner": owner, "expires": now + lease, "max_attempts": max_attempts}
    with db.autocommit() as connection:
        row = connection.execute(_lease_next(max_attempts is not None), values).first()
    if row is None:
        return None
    job_id, kind, payload, attempts, was_exhausted = row
    return ClaimedJob(job_id, kind, dict(payload), attempts, bool(was_exhausted))


@functools.cache
def _lease_next(limited: bool) -> Update:
    """PostgreSQL: one statement picks the next runnable job and leases it, returning what the
    worker needs (RETURNING sees the picked row as it was), in a transaction of its own. A
    claim was a BEGIN, a SELECT, an UPDATE and a COMMIT through a session, for every job and
    every idle look at the queue (bench.fleet_upgrade). Built once: making the statement cost
    more than running it."""
    now = bindparam("now", type_=Job.run_after.type)
    ready = or_(
        and_(Job.status == JobStatus.QUEUED, Job.run_after <= now),
        and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now),
    )
    first_ready = select(Job.id, Job.status, Job.attempts).where(ready)
    first_ready = first_ready.order_by(Job.run_after, Job.id).limit(1)
    # Replicas skip rows another worker is claiming instead of queueing behind it.
    picked = first_ready.with_for_update(skip_locked=True).cte("picked")
    exhausted: ColumnElement[bool] = (
        and_(
            picked.c.status == JobStatus.RUNNING,
            picked.c.attempts >= bindparam("max_attempts", type_=Job.attempts.type),
        )
        if limited
        else false()
    )
    return (
        update(Job)
        .where(Job.id == picked.c.id)
        .values(
            status=JobStatus.RUNNING,
            lease_owner=bindparam("owner", type_=Job.lease_owner.type),
            lease_expires_at=bindparam("expires", type_=Job.lease_expires_at.type),
            attempts=case((exhausted, Job.attempts), else_=Job.attempts + 1),
            updated_at=now,
        )
        .returning(Job.id, Job.kind, Job.payload, Job.attempts, exhausted)
    )


def _claim_in_session(
    db: Database,
    ready: ColumnElement[bool],
    owner: str,
    lease: timedelta,
    now: datetime,
    max_attempts: int | None,
) -> ClaimedJob | None:
    """SQLite: its RETURNING cannot see the row as it was before the update. Its one writer
    at a time makes the two statements as safe as PostgreSQL's one."""
    with db.session(write=True) as session:
        job = session.scalars(
            select(Job).where(ready).order_by(Job.run_after, Job.id).limit(1)
        ).first()
        if job is None:
            return None
        exhausted = (
            max_attempts is not None
            and job.status == JobStatus.RUNNING
            and job.attempts >= max_attempts
        )
        job.status = JobStatus.RUNNING
        job.lease_owner = owner
        job.lease_expires_at = now + lease
        if not exhausted:
            job.attempts += 1
        job.updated_at = now
        return ClaimedJob(job.id, job.kind, dict(job.payload), job.attempts, exhausted)


def release_all_leases(db: Database) -> int:
    """Makes every RUNNING job claimable at once. Only for embedded mode's start-up: there the
    starting process is the only worker, so any running job belonged to a process now dead."""
    now = datetime.now(UTC)
    with db.session(write=True) as session:
        result = session.execute(
            update(Job)
            .where(Job.status == JobStatus.RUNNING)
            .values(lease_expires_at=now - timedelta(seconds=1), updated_at=now)
        )
        return result.rowcount


def heartbeat(db: Database, job_id: int, owner: str, lease: timedelta) -> bool:
    """Extends the lease; False means the job is no longer ours and work must stop."""
    now = datetime.now(UTC)
    with db.session(write=True) as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner, Job.status == JobStatus.RUNNING)
            .values(lease_expires_at=now + lease, updated_at=now)
        )
        return result.rowcount == 1


def finish(db: Database, job_id: int, owner: str, *, error: str | None = None) -> None:
    status = JobStatus.FAILED if error else JobStatus.DONE
    _settle(db, job_id, owner, status=status, last_error=error)


def finish_in(session: Session, job_id: int, owner: str) -> None:
    """Marks the job DONE in ``session``'s transaction: the handler's last write (a deployment's
    outcome) and the job's end then commit together, one transaction fewer per job, and a
    crash between them cannot run a recorded job again."""
    # On the session's connection, as Core: nothing of the session maps a job, so the ORM's
    # bulk UPDATE (an autoflush, a look through the identity map) only cost CPU, ~2% of a
    # worker's per deployment with the statement's building (bench.fleet_upgrade profile).
    session.connection().execute(
        _FINISH_IN, {"job_id": job_id, "owner": owner, "now": datetime.now(UTC)}
    )


_FINISH_IN = (
    update(Job)
    .where(Job.id == bindparam("job_id"), Job.lease_owner == bindparam("owner"))
    .values(
        status=JobStatus.DONE,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=bindparam("now", type_=Job.updated_at.type),
    )
)


def release(db: Database, job_id: int, owner: str) -> None:
    """Hands a job back untouched (a worker shutting down): claimable at once, and the
    interrupted attempt does not count against the job."""
    now = datetime.now(UTC)
    with db.session(write=True) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner, Job.status == JobStatus.RUNNING)
            .values(
                status=JobStatus.QUEUED,
                lease_owner=None,
                lease_expires_at=None,
                run_after=now,
                attempts=Job.attempts - 1,
                updated_at=now,
            )
        )


def retry_later(db: Database, job_id: int, owner: str, error: str, delay: timedelta) -> None:
    now = datetime.now(UTC)
    _settle(db, job_id, owner, status=JobStatus.QUEUED, last_error=error, run_after=now + delay)


def _settle(db: Database, job_id: int, owner: str, **values: Any) -> None:
    with db.session(write=True) as session:
        session.execute(_settling(job_id, owner, datetime.now(UTC), **values))


def _settling(job_id: int, owner: str, now: datetime, **values: Any) -> Update:
    return (
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None, updated_at=now, **values)
    )
