"""The SERVICE_SYNC job: a service's instances follow its proton-ops file.

One run reads the proton-ops file at the head of the config's branch and, for each instance of
the service it lists, the spec file at the head of that instance's branch. An instance whose
entry differs from the one it last synced from (or that does not exist yet) is deployed with
the very domain functions CreateServiceInstance and UpdateServiceInstance use (an update is a
CURRENT_VERSION deployment, as the samples' pipelines do it), unless a blocker holds it.
Instances the file does not list are not touched, and nothing is ever deleted.

Every decision is taken again inside the transaction that acts on it, against the latest
attempt of the instance (its target revision is the commit and spec file it read), so a run
repeated after a crash, or two runs at once, deploy a revision once. A run that finds an
instance busy (a deployment in progress) leaves its attempt INITIATED and runs again later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baryon.domain import (
    approval_gate,
    audit_subjects,
    service_sync,
    services,
    specs,
    sync_attempts,
)
from baryon.domain.arns import Arns
from baryon.domain.audit_changes import SystemChange, error_code, record_system_change
from baryon.domain.errors import Conflict, DomainError
from baryon.domain.git import SyncScope
from baryon.domain.service_sync import InstanceSource, SyncEventType, SyncSource
from baryon.domain.specs import InstanceSpec
from baryon.domain.sync_attempts import Revision
from baryon.engine.handlers import JobContext, TransientError, register_job
from baryon.engine.worker_runtime import WorkerRuntime
from baryon.git.errors import GitError, GitLimitExceeded, GitNotFound
from baryon.git.remote import GitRemote
from baryon.service_models import PROTON
from baryon.service_models.baryon import AuditDoor, AuditResult
from baryon.service_models.proton import (
    DeploymentUpdateType,
    RepositorySyncStatus,
    ResourceSyncStatus,
    SyncType,
)
from baryon.store import jobs
from baryon.store.jobs import JobKind
from baryon.store.tables import (
    Deployment,
    RepositoryBranch,
    Service,
    ServiceInstance,
    SyncAttemptRow,
)

log = logging.getLogger(__name__)

# A busy instance is looked at again this often at least (and no more often than this floor,
# whatever the poll setting says).
_MIN_RETRY_SECONDS = 1.0


class Outcome(StrEnum):
    UNCHANGED = "no change"
    IN_PROGRESS = "deployment in progress"
    STARTED = "deployment started"
    BLOCKED = "blocked"
    WAITING = "waiting"
    FAILED = "failed"


@dataclass(frozen=True)
class InstanceResult:
    outcome: Outcome
    message: str


class _Unreadable(Exception):
    """A file or branch the sync needs cannot be read, and trying again will not help."""


class _UnusableSpec(Exception):
    """An instance's spec file cannot be deployed from; the message names the file."""


class _Repository:
    """The remote as one run reads it: each branch head fetched once, each folder once."""

    def __init__(self, remote: GitRemote) -> None:
        self._remote = remote
        self._heads: dict[str, str | None] = {}
        self._folders: dict[tuple[str, str], dict[str, bytes]] = {}

    def head(self, branch: str) -> str | None:
        if branch not in self._heads:
            self._heads[branch] = _git(lambda: self._remote.branch_head(branch))
        return self._heads[branch]

    def file(self, sha: str, path: str) -> bytes | None:
        folder, _, name = path.rpartition("/")
        key = (sha, folder)
        if key not in self._folders:
            self._folders[key] = _git(lambda: self._remote.files_at(sha, folder))
        return self._folders[key].get(name)

    @property
    def heads(self) -> dict[str, str]:
        return {branch: sha for branch, sha in self._heads.items() if sha is not None}


def _git(read: Any) -> Any:
    """Runs a read; what will not change on a retry is _Unreadable, the rest is transient
    (the job is retried with backoff, then given up with a FAILED repository attempt)."""
    try:
        return read()
    except (GitLimitExceeded, GitNotFound) as exc:
        raise _Unreadable(str(exc)) from exc
    except GitError as exc:
        raise TransientError(str(exc)) from exc


# --- the job ---------------------------------------------------------------------------------


def run(context: JobContext, payload: dict[str, Any]) -> None:
    runtime = context.runtime
    service_name = payload["service_name"]
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        config = service_sync.find_config(session, service_name)
        if config is None:
            return  # the config was deleted meanwhile
        source = service_sync.source_of(config)
        if session.scalar(select(Service.id).where(Service.name == service_name)) is None:
            return  # the service was deleted: nothing to sync into
    events: list[tuple[str, SyncEventType]] = []
    try:
        access = runtime.git_access.repository(source.repository_provider, source.repository_name)
        repository = _Repository(access.remote)
        head = repository.head(source.branch)
        if head is None:
            raise _Unreadable(f"the branch {source.branch!r} does not exist")
        data = repository.file(head, source.file_path)
        if data is None:
            raise _Unreadable(f"{source.file_path} does not exist at commit {head}")
        ops = service_sync.parse_ops_file(data, source.file_path, service_name)
    except (_Unreadable, DomainError) as exc:
        reason = exc.message if isinstance(exc, DomainError) else str(exc)
        events.append((f"Service {service_name}: {reason}", SyncEventType.FAILED))
        _record_repository(runtime, source, None, RepositorySyncStatus.FAILED, events, now)
        return
    events.append(
        (
            f"Service {service_name}: {source.file_path} at commit {head} lists "
            f"{len(ops.instances)} instance(s) of the service.",
            SyncEventType.READ,
        )
    )
    waiting = False
    for instance in ops.instances:
        try:
            result = _sync_instance(runtime, source, instance, repository, now, context.job_id)
        except _Unreadable as exc:
            result = InstanceResult(Outcome.FAILED, str(exc))
        waiting = waiting or result.outcome == Outcome.WAITING
        kind = SyncEventType.FAILED if result.outcome == Outcome.FAILED else SyncEventType.READ
        events.append((f"Instance {instance.name}: {result.message}", kind))
    _record_repository(
        runtime, source, head, RepositorySyncStatus.SUCCEEDED, events, now, repository.heads
    )
    if waiting:
        later = now + timedelta(seconds=max(_MIN_RETRY_SECONDS, runtime.settings.git_poll_seconds))
        with runtime.db.session(write=True) as session:
            jobs.enqueue_once(session, JobKind.SERVICE_SYNC, payload, now, run_after=later)


def give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    """The repository could not be read (after the retries): say so where
    GetRepositorySyncStatus looks. The next push or poll tries again."""
    runtime = context.runtime
    with runtime.db.session() as session:
        config = service_sync.find_config(session, payload["service_name"])
        if config is None:
            return
        source = service_sync.source_of(config)
    message = f"Service {source.service_name}: reading the repository failed: {error}"
    _record_repository(
        runtime,
        source,
        None,
        RepositorySyncStatus.FAILED,
        [(message, SyncEventType.FAILED)],
        datetime.now(UTC),
    )


# --- one instance ----------------------------------------------------------------------------


def _sync_instance(
    runtime: WorkerRuntime,
    source: SyncSource,
    instance: InstanceSource,
    repository: _Repository,
    now: datetime,
    job_id: int,
) -> InstanceResult:
    service_name = source.service_name
    head = repository.head(instance.branch)
    if head is None:
        raise _Unreadable(f"its branch {instance.branch!r} does not exist")
    desired = Revision(
        source.repository_provider,
        source.repository_name,
        instance.branch,
        head,
        instance.spec_path,
    )
    with runtime.db.session() as session:
        latest = service_sync.latest_instance_attempt(session, service_name, instance.name)
        if _handled(latest, desired):
            assert latest is not None
            if latest.status == ResourceSyncStatus.IN_PROGRESS:
                return _check_in_progress(runtime, service_name, instance.name)
            return InstanceResult(Outcome.UNCHANGED, f"commit {head} was synced already.")
        succeeded = service_sync.latest_instance_attempt(
            session, service_name, instance.name, status=ResourceSyncStatus.SUCCEEDED
        )
        synced = dict(succeeded.target_revision or {}) if succeeded else None
        row = session.scalar(
            select(ServiceInstance).where(
                ServiceInstance.service_name == service_name,
                ServiceInstance.name == instance.name,
            )
        )
        deployed_spec = row.spec if row is not None else None
        exists = row is not None
    try:
        spec_text, entry = _read_entry(repository, head, instance)
    except _UnusableSpec as exc:
        return _fail(runtime, service_name, instance, desired, synced, str(exc), now)
    baseline = _baseline(repository, instance.name, synced, deployed_spec)
    changed = not exists or baseline is None or not service_sync.same_entry(baseline, entry)
    return _apply(runtime, source, instance, desired, synced, spec_text, changed, now, job_id)


def _handled(latest: SyncAttemptRow | None, desired: Revision) -> bool:
    """Whether an attempt of this very revision ran already (a pending one, INITIATED while
    blocked or waiting, has yet to)."""
    return (
        latest is not None
        and latest.target_revision == desired.wire()
        and latest.status != ResourceSyncStatus.INITIATED
    )


def _read_entry(
    repository: _Repository, head: str, instance: InstanceSource
) -> tuple[str, InstanceSpec]:
    data = repository.file(head, instance.spec_path)
    path = instance.spec_path
    if data is None:
        raise _UnusableSpec(f"{path} does not exist on branch {instance.branch} at commit {head}.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _UnusableSpec(f"{path} is not UTF-8 text.") from exc
    try:
        entry = specs.parse_service_spec(text).instance(instance.name)
    except DomainError as exc:
        raise _UnusableSpec(f"{path}: {exc.message}") from exc
    return text, entry


def _baseline(
    repository: _Repository,
    name: str,
    synced: dict[str, Any] | None,
    deployed_spec: str | None,
) -> InstanceSpec | None:
    """The entry the instance last synced from (read again at that commit), or, before its
    first sync, the one it runs now; None when neither can be read."""
    try:
        if synced:
            data = repository.file(synced["sha"], synced["directory"])
            if data is None:
                return None
            return specs.parse_service_spec(data.decode("utf-8")).instance(name)
        if deployed_spec:
            return specs.parse_service_spec(deployed_spec).instance(name)
    except (DomainError, UnicodeDecodeError, _Unreadable):
        return None
    return None


def _apply(
    runtime: WorkerRuntime,
    source: SyncSource,
    instance: InstanceSource,
    desired: Revision,
    synced: dict[str, Any] | None,
    spec_text: str,
    changed: bool,
    now: datetime,
    job_id: int,
) -> InstanceResult:
    service_name = source.service_name
    with runtime.db.session(write=True) as session:
        # The config row's lock serializes the runs of one service (SQLite: the write lock).
        if service_sync.find_config(session, service_name, lock=True) is None:
            return InstanceResult(Outcome.UNCHANGED, "the service sync configuration is gone.")
        latest = service_sync.latest_instance_attempt(session, service_name, instance.name)
        if _handled(latest, desired):
            return InstanceResult(Outcome.UNCHANGED, f"commit {desired.sha} was synced already.")
        pending = _pending(latest, desired, now)
        if not changed:
            if pending is not None:
                sync_attempts.add_event(
                    pending,
                    "Nothing left to deploy: the instance runs this spec already.",
                    SyncEventType.READ,
                    now,
                    status=ResourceSyncStatus.SUCCEEDED,
                )
            return InstanceResult(
                Outcome.UNCHANGED, f"its entry in {instance.spec_path} is as synced."
            )
        attempt = pending or sync_attempts.start(
            session,
            SyncType.SERVICE_SYNC,
            SyncScope.INSTANCE,
            service_sync.instance_target(service_name, instance.name),
            now,
            initial=Revision(**_revision_fields(synced)) if synced else None,
            desired=desired,
        )
        if not attempt.events:
            sync_attempts.add_event(
                attempt,
                f"Sync started from {instance.spec_path} at commit {desired.sha} of branch "
                f"{instance.branch}.",
                SyncEventType.STARTED,
                now,
            )
        blocker = service_sync.active_blocker(session, service_name, instance.name)
        if blocker is not None:
            if attempt.events[-1].get("externalId") != blocker.id:
                sync_attempts.add_event(
                    attempt,
                    f"Blocked by sync blocker {blocker.id}: {blocker.created_reason}",
                    SyncEventType.BLOCKED,
                    now,
                    external_id=blocker.id,
                )
            return InstanceResult(Outcome.BLOCKED, f"blocked by sync blocker {blocker.id}.")
        audited = _Audited(runtime, job_id, service_name, instance.name, spec_text, now)
        before = audited.spec_before(session)
        try:
            # A push asks for the change as Baryon itself: approval rules hold it as they
            # would a person's request (domain/approval_gate.py lists who passes the gate).
            with session.begin_nested(), approval_gate.in_effect(runtime.system_approvals):
                deployment_id, created = _deploy(
                    session, runtime.arns, service_name, instance.name, spec_text, now
                )
        except Conflict as exc:  # tried again later: recorded once it is done or refused
            text = f"Waiting: {exc.message}"
            if attempt.events[-1]["event"] != text:
                sync_attempts.add_event(attempt, text, SyncEventType.WAITING, now)
            return InstanceResult(Outcome.WAITING, exc.message)
        except DomainError as exc:
            message = f"{instance.spec_path}: {exc.message}"
            sync_attempts.add_event(
                attempt, message, SyncEventType.FAILED, now, status=ResourceSyncStatus.FAILED
            )
            audited.record(session, before, exc)
            return InstanceResult(Outcome.FAILED, message)
        audited.record(session, before)
        what = "creates" if created else "updates"
        held = approval_gate.pending(session, deployment_id)
        waits = f" It waits for approval ({held.reason})." if held is not None else ""
        sync_attempts.add_event(
            attempt,
            f"Deployment {deployment_id} started: it {what} the instance.{waits}",
            SyncEventType.DEPLOYMENT_STARTED,
            now,
            external_id=deployment_id,
            status=ResourceSyncStatus.IN_PROGRESS,
        )
    runtime.job_wakeup.set()
    return InstanceResult(Outcome.STARTED, f"deployment {deployment_id} {what} it.")


@dataclass(frozen=True)
class _Audited:
    """The audit record of an instance that service sync creates or updates: the operation
    that does the same by hand, with the spec's difference."""

    runtime: WorkerRuntime
    job_id: int
    service_name: str
    name: str
    spec_text: str
    now: datetime

    def spec_before(self, session: Session) -> str | None:
        names = {"serviceName": self.service_name, "name": self.name}
        return audit_subjects.current_spec(session, "UpdateServiceInstance", names)

    def record(
        self, session: Session, before: str | None, refusal: DomainError | None = None
    ) -> None:
        operation = "CreateServiceInstance" if before is None else "UpdateServiceInstance"
        diff = None
        if refusal is None:
            diff = audit_subjects.spec_diff(operation, {"spec": self.spec_text}, before)
        change = SystemChange(
            operation=operation,
            resources=(self.runtime.arns.service_instance(self.service_name, self.name),),
            result=AuditResult.SUCCEEDED if refusal is None else AuditResult.FAILED,
            door=AuditDoor.GIT,
            error_code=None if refusal is None else error_code(refusal),
            spec_diff=diff,
            service=PROTON,
        )
        region = self.runtime.settings.region
        record_system_change(session, change, region=region, job_id=self.job_id, now=self.now)


def _pending(
    latest: SyncAttemptRow | None, desired: Revision, now: datetime
) -> SyncAttemptRow | None:
    """The INITIATED attempt of this revision, to go on with; one of an older revision is
    superseded (it never deployed)."""
    if latest is None or latest.status != ResourceSyncStatus.INITIATED:
        return None
    if latest.target_revision == desired.wire():
        return latest
    sync_attempts.add_event(
        latest,
        f"Superseded by commit {desired.sha} of branch {desired.branch}.",
        SyncEventType.SUPERSEDED,
        now,
        status=ResourceSyncStatus.FAILED,
    )
    return None


def _revision_fields(revision: dict[str, Any]) -> dict[str, str]:
    return {
        "repository_provider": revision["repositoryProvider"],
        "repository_name": revision["repositoryName"],
        "branch": revision["branch"],
        "sha": revision["sha"],
        "directory": revision["directory"],
    }


def _deploy(
    session: Session, arns: Arns, service_name: str, name: str, spec_text: str, now: datetime
) -> tuple[str, bool]:
    """Creates or updates the instance exactly as CreateServiceInstance and
    UpdateServiceInstance do; returns (deployment id, created)."""
    exists = session.scalar(
        select(ServiceInstance.id).where(
            ServiceInstance.service_name == service_name, ServiceInstance.name == name
        )
    )
    if exists is None:
        instance = services.create_service_instance(
            session,
            arns,
            service_name=service_name,
            name=name,
            spec=spec_text,
            major=None,
            minor=None,
            client_token=None,
            now=now,
        )
    else:
        instance = services.update_service_instance(
            session,
            arns,
            service_name=service_name,
            name=name,
            deployment_type=DeploymentUpdateType.CURRENT_VERSION,
            spec=spec_text,
            major=None,
            minor=None,
            client_token=None,
            now=now,
        )
    deployment_id = instance.last_attempted_deployment_id
    assert deployment_id is not None
    return deployment_id, exists is None


def _check_in_progress(runtime: WorkerRuntime, service_name: str, name: str) -> InstanceResult:
    """An attempt whose deployment ended without telling it (deleted, say) ends here."""
    with runtime.db.session(write=True) as session:
        latest = service_sync.latest_instance_attempt(session, service_name, name)
        if latest is None or latest.status != ResourceSyncStatus.IN_PROGRESS:
            return InstanceResult(Outcome.UNCHANGED, "its sync ended meanwhile.")
        started = latest.events[-1].get("externalId") if latest.events else None
        deployment = session.get(Deployment, started) if started else None
        if service_sync.finish_attempt(latest, deployment, datetime.now(UTC)):
            return InstanceResult(Outcome.UNCHANGED, f"its sync ended {latest.status}.")
    return InstanceResult(Outcome.IN_PROGRESS, f"deployment {started} is in progress.")


def _fail(
    runtime: WorkerRuntime,
    service_name: str,
    instance: InstanceSource,
    desired: Revision,
    synced: dict[str, Any] | None,
    message: str,
    now: datetime,
) -> InstanceResult:
    with runtime.db.session(write=True) as session:
        if service_sync.find_config(session, service_name, lock=True) is None:
            return InstanceResult(Outcome.UNCHANGED, "the service sync configuration is gone.")
        latest = service_sync.latest_instance_attempt(session, service_name, instance.name)
        if _handled(latest, desired):
            return InstanceResult(Outcome.UNCHANGED, f"commit {desired.sha} was synced already.")
        attempt = _pending(latest, desired, now) or sync_attempts.start(
            session,
            SyncType.SERVICE_SYNC,
            SyncScope.INSTANCE,
            service_sync.instance_target(service_name, instance.name),
            now,
            initial=Revision(**_revision_fields(synced)) if synced else None,
            desired=desired,
        )
        sync_attempts.add_event(
            attempt, message, SyncEventType.FAILED, now, status=ResourceSyncStatus.FAILED
        )
    return InstanceResult(Outcome.FAILED, message)


# --- the repository's side -------------------------------------------------------------------


def _record_repository(
    runtime: WorkerRuntime,
    source: SyncSource,
    head: str | None,
    status: RepositorySyncStatus,
    events: list[tuple[str, SyncEventType]],
    now: datetime,
    heads: dict[str, str] | None = None,
) -> None:
    """A repository attempt of the config's branch (GetRepositorySyncStatus), unless the last
    one read the same commit and said the same; and a watched-branch row for every branch an
    instance reads, so that polling notices pushes there too."""
    target = service_sync.repository_target(
        source.repository_provider, source.repository_name, source.branch
    )
    revision = Revision(
        source.repository_provider,
        source.repository_name,
        source.branch,
        head or "",
        source.file_path,
    ).wire()
    with runtime.db.session(write=True) as session:
        latest = sync_attempts.latest(session, SyncType.SERVICE_SYNC, SyncScope.REPOSITORY, target)
        said = [text for text, _ in events]
        repeated = (
            latest is not None
            and latest.status == status
            and latest.target_revision == revision
            and [event["event"] for event in latest.events] == said
        )
        if not repeated:
            row = sync_attempts.start(
                session, SyncType.SERVICE_SYNC, SyncScope.REPOSITORY, target, now, status=status
            )
            row.target_revision = dict(revision)
            for text, kind in events:
                sync_attempts.add_event(row, text, kind, now)
        for branch, sha in (heads or {}).items():
            _watch(session, source, branch, sha, now)


def _watch(session: Session, source: SyncSource, branch: str, sha: str, now: datetime) -> None:
    """A branch an instance reads beyond the config's own is polled from now on
    (engine/repository_changes.py polls every remembered branch of a watched repository);
    the head read now counts as acted on."""
    exists = session.scalar(
        select(RepositoryBranch.id).where(
            RepositoryBranch.repository_provider == source.repository_provider,
            RepositoryBranch.repository_name == source.repository_name,
            RepositoryBranch.branch == branch,
        )
    )
    if exists is not None:
        return
    try:
        with session.begin_nested():
            session.add(
                RepositoryBranch(
                    repository_provider=source.repository_provider,
                    repository_name=source.repository_name,
                    branch=branch,
                    last_sha=sha,
                    checked_at=now,
                )
            )
    except IntegrityError:
        pass  # remembered meanwhile by a push or a poll: theirs is as good


register_job(JobKind.SERVICE_SYNC, run, give_up)
