"""What happens when a watched branch moves, and how Baryon notices when nothing tells it.

Every way of learning about a commit (a push to Baryon's own git server, a forge's webhook, a
poll) ends in one REPOSITORY_CHANGED job for the branch; its handler wakes whatever reads
that repository: template sync (configs on that branch), service sync (configs on that
repository: a proton-ops file names other branches too) and pull requests waiting there. The
jobs it enqueues are deduplicated (store.jobs.enqueue_once) and each reads the branch's head
when it runs, so a burst of pushes is handled by one run per reader.

POLL_REPOSITORIES fetches every watched branch's head, compares it with the last one acted on
(RepositoryBranch), and enqueues REPOSITORY_CHANGED for what moved; it then schedules itself
again. Polling is how plain git remotes are watched, and how anything missed while Baryon was
down (a webhook, a merge) is found after a restart.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain.audit_changes import REPOSITORY_CHANGED, SystemChange, record_system_change
from baryon.domain.errors import DomainError
from baryon.domain.git import PullRequestStatus, branch_changed, start_polling
from baryon.engine.handlers import JobContext, register_job
from baryon.git.errors import GitError
from baryon.git.forges.base import ForgeError
from baryon.service_models.baryon import AuditDoor, AuditResult
from baryon.store import jobs
from baryon.store.database import Database
from baryon.store.jobs import JobKind
from baryon.store.tables import (
    PullRequestRow,
    RepositoryBranch,
    ServiceSyncConfigRow,
    TemplateSyncConfigRow,
)

log = logging.getLogger(__name__)

_WATCHED_PULL_REQUESTS = (PullRequestStatus.OPEN, PullRequestStatus.MERGED)


def run_repository_changed(context: JobContext, payload: dict[str, Any]) -> None:
    provider, name, branch = payload["provider"], payload["name"], payload["branch"]
    now = datetime.now(UTC)
    with context.runtime.db.session(write=True) as session:
        _remember_head(session, provider, name, branch, payload.get("sha"), now)
        start_polling(session, now)
        for template_type, template_name in session.execute(
            select(TemplateSyncConfigRow.template_type, TemplateSyncConfigRow.template_name).where(
                TemplateSyncConfigRow.repository_provider == provider,
                TemplateSyncConfigRow.repository_name == name,
                TemplateSyncConfigRow.branch == branch,
            )
        ):
            jobs.enqueue_once(
                session,
                JobKind.TEMPLATE_SYNC,
                {"template_type": template_type, "template_name": template_name},
                now,
            )
        for service_name in session.scalars(
            select(ServiceSyncConfigRow.service_name).where(
                ServiceSyncConfigRow.repository_provider == provider,
                ServiceSyncConfigRow.repository_name == name,
            )
        ):
            jobs.enqueue_once(session, JobKind.SERVICE_SYNC, {"service_name": service_name}, now)
        for deployment_id in session.scalars(
            select(PullRequestRow.deployment_id).where(
                PullRequestRow.repository_provider == provider,
                PullRequestRow.repository_name == name,
                PullRequestRow.state.in_(_WATCHED_PULL_REQUESTS),
            )
        ):
            jobs.enqueue_once(session, JobKind.PULL_REQUEST, {"deployment_id": deployment_id}, now)
        # A push, a webhook or a poll moved the branch; what it starts records its own changes.
        change = SystemChange(
            operation=REPOSITORY_CHANGED,
            resources=(context.runtime.arns.repository(provider, name),),
            result=AuditResult.SUCCEEDED,
            door=AuditDoor.GIT,
        )
        region = context.runtime.settings.region
        record_system_change(session, change, region=region, job_id=context.job_id, now=now)
    context.runtime.job_wakeup.set()


def _remember_head(
    session: Session, provider: str, name: str, branch: str, sha: str | None, now: datetime
) -> None:
    row = session.scalar(
        select(RepositoryBranch)
        .where(
            RepositoryBranch.repository_provider == provider,
            RepositoryBranch.repository_name == name,
            RepositoryBranch.branch == branch,
        )
        .with_for_update()
    )
    if row is None:
        row = RepositoryBranch(repository_provider=provider, repository_name=name, branch=branch)
        session.add(row)
    row.last_sha = sha
    row.checked_at = now


def _ignore(context: JobContext, payload: dict[str, Any], error: str) -> None:
    # Nothing waits on these jobs: the next push or poll asks again.
    log.warning("giving up on %s: %s", payload, error)


# --- polling ---------------------------------------------------------------------------------


# Jobs that recur while something is watched; their finished rows are of no further use.
_RECURRING = (JobKind.POLL_REPOSITORIES, JobKind.REPOSITORY_CHANGED, JobKind.PULL_REQUEST)


def ensure_polling(db: Database) -> None:
    """Called when workers start: one poll job exists (however many processes call this)
    while anything is watched, so what changed while Baryon was down is found."""
    now = datetime.now(UTC)
    with db.session(write=True) as session:
        if _watched_branches(session):
            start_polling(session, now)


def run_poll(context: JobContext, payload: dict[str, Any]) -> None:
    runtime = context.runtime
    now = datetime.now(UTC)
    # The next poll is scheduled first, so that a failing poll never stops polling.
    with runtime.db.session(write=True) as session:
        watched = _watched_branches(session)
        if watched:
            later = now + timedelta(seconds=runtime.settings.git_poll_seconds)
            jobs.enqueue_once(session, JobKind.POLL_REPOSITORIES, {}, now, run_after=later)
        jobs.forget_finished(session, _RECURRING, before=now - timedelta(minutes=10))
        known = {
            (r.repository_provider, r.repository_name, r.branch): r.last_sha
            for r in session.scalars(select(RepositoryBranch))
        }
    moved: list[tuple[str, str, str, str | None]] = []
    for (provider, name), branches in watched.items():
        try:
            heads = runtime.git_access.repository(provider, name).remote.branches()
        except (GitError, ForgeError, DomainError) as exc:
            log.warning("polling %s repository %s failed: %s", provider, name, exc)
            continue
        for branch in branches:
            head = heads.get(branch)
            if head != known.get((provider, name, branch)):
                moved.append((provider, name, branch, head))
    if moved:
        with runtime.db.session(write=True) as session:
            for provider, name, branch, head in moved:
                branch_changed(session, provider, name, branch, head, now)
        runtime.job_wakeup.set()


def _watched_branches(session: Session) -> dict[tuple[str, str], set[str]]:
    watched: dict[tuple[str, str], set[str]] = defaultdict(set)
    for provider, name, branch in session.execute(
        select(
            TemplateSyncConfigRow.repository_provider,
            TemplateSyncConfigRow.repository_name,
            TemplateSyncConfigRow.branch,
        )
    ):
        watched[(provider, name)].add(branch)
    for provider, name, branch in session.execute(
        select(
            ServiceSyncConfigRow.repository_provider,
            ServiceSyncConfigRow.repository_name,
            ServiceSyncConfigRow.branch,
        )
    ):
        watched[(provider, name)].add(branch)
    for provider, name, base, head in session.execute(
        select(
            PullRequestRow.repository_provider,
            PullRequestRow.repository_name,
            PullRequestRow.base_branch,
            PullRequestRow.head_branch,
        ).where(PullRequestRow.state.in_(_WATCHED_PULL_REQUESTS))
    ):
        watched[(provider, name)].update((base, head))
    # Branches a reader asked to watch beyond its config's (a proton-ops file's instance
    # branches): every branch already remembered on a watched repository.
    for provider, name, branch in session.execute(
        select(
            RepositoryBranch.repository_provider,
            RepositoryBranch.repository_name,
            RepositoryBranch.branch,
        )
    ):
        if (provider, name) in watched:
            watched[(provider, name)].add(branch)
    return watched


register_job(JobKind.REPOSITORY_CHANGED, run_repository_changed, _ignore)
register_job(JobKind.POLL_REPOSITORIES, run_poll, _ignore)
