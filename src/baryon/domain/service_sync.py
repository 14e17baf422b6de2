"""Service sync: a service's instances follow a proton-ops file in a repository, and manual
changes block them (reference section 5.2, Proton's rules).

- A ServiceSyncConfig names the repository, branch and path of the proton-ops file; the file
  lists, per service and instance, the branch and path of a ServiceSpec file holding that
  instance. Instances the file does not list are left alone; removing one from the file
  deletes nothing.
- A change made by hand (CreateServiceInstance, UpdateServiceInstance, or UpdateService adding
  instances) on a synced service blocks that instance; deleting instances by hand (UpdateService
  leaving them out, DeleteService) blocks the whole service. The sync skips what is blocked
  until UpdateServiceSyncBlocker resolves it.
- Every instance sync is an attempt (domain/sync_attempts.py, scope INSTANCE, target
  "<service>/<instance>") whose target revision is the commit and spec file it read; it is
  IN_PROGRESS while the deployment it started runs and ends with it (``deployment_ended``).

No git is spoken here: engine/service_sync.py reads the repository and calls these rules.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from baryon.bundles.errors import BundleError
from baryon.bundles.yaml_source import YamlDocument, load_yaml
from baryon.domain import repositories, sync_attempts
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.domain.git import SyncScope, start_polling
from baryon.domain.specs import InstanceSpec
from baryon.service_models import proton
from baryon.service_models.proton import (
    BlockerStatus,
    BlockerType,
    DeploymentStatus,
    DeploymentTargetResourceType,
    ResourceSyncStatus,
    SyncType,
)
from baryon.store import jobs
from baryon.store.jobs import JobKind
from baryon.store.tables import (
    Deployment,
    Service,
    ServiceInstance,
    ServiceSyncConfigRow,
    SyncAttemptRow,
    SyncBlockerRow,
)

# A proton-ops file is a short index of instances; a fleet of a thousand instances fits in
# well under this, and a hostile file cannot make the worker parse megabytes.
MAX_OPS_FILE_BYTES = 256 * 1024
MAX_INSTANCES_PER_SERVICE = 1000
# Paths inside a repository: Proton's OpsFilePath allows 4,096 characters; git/limits.py
# reads no deeper than 32 folders, so nothing longer could be read anyway.
MAX_PATH_CHARS = 4096
MAX_PATH_DEPTH = 32
MAX_BRANCH_CHARS = 200  # Proton's GitBranchName
# Proton's ResourceName: what an instance may be called.
_RESOURCE_NAME = re.compile(r"^[0-9A-Za-z]+[0-9A-Za-z_\-]*$")
# What git refuses in a branch name (git check-ref-format), checked before any git is asked.
_BAD_BRANCH = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^/|/$|^-|\.lock$|\.$|/\.")


class SyncEventType(StrEnum):
    """What a sync event is about (ResourceSyncEvent.type and RepositorySyncEvent.type)."""

    READ = "READ"  # a proton-ops or spec file was read
    STARTED = "STARTED"  # an instance sync began
    DEPLOYMENT_STARTED = "DEPLOYMENT_STARTED"  # externalId: the deployment
    DEPLOYMENT_SUCCEEDED = "DEPLOYMENT_SUCCEEDED"
    DEPLOYMENT_FAILED = "DEPLOYMENT_FAILED"
    BLOCKED = "BLOCKED"  # externalId: the blocker
    WAITING = "WAITING"  # the instance or service is busy; the sync tries again
    SUPERSEDED = "SUPERSEDED"  # a newer commit replaced this attempt before it deployed
    FAILED = "FAILED"  # the attempt could not deploy (its reason in the event)


class ManualChange(StrEnum):
    """What a person did to a synced service, in a blocker's words."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


# --- the proton-ops file ----------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceSource:
    """Where one instance's spec lives, as the proton-ops file says."""

    name: str
    branch: str
    spec_path: str  # relative to the repository's root, without "./"


@dataclass(frozen=True)
class OpsFile:
    path: str
    instances: tuple[InstanceSource, ...]  # this service's, by name


def parse_ops_file(data: bytes, path: str, service_name: str) -> OpsFile:
    """The instances of ``service_name`` that a proton-ops file lists. Other services' entries
    are not this service's business and are only checked for shape. Every refusal is an
    InvalidInput naming the file, the line and the field."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(f"{path} line {line}: the file is not UTF-8 text.") from exc
    try:
        document = load_yaml(text, path, max_bytes=MAX_OPS_FILE_BYTES)
    except BundleError as exc:
        raise InvalidInput(str(exc)) from exc
    sync = _only_key(document, document.data, (), "sync")
    services = _only_key(document, sync, ("sync",), "services")
    if services is None:
        return OpsFile(path, ())
    if not isinstance(services, dict):
        raise _refused(document, ("sync", "services"), "must map service names to their instances.")
    for name in services:
        if not isinstance(name, str) or not _RESOURCE_NAME.match(name) or len(name) > 100:
            raise _refused(document, ("sync", "services"), f"{name!r} is not a service name.")
    entries = services.get(service_name)
    if entries is None:
        return OpsFile(path, ())
    where = ("sync", "services", service_name)
    if not isinstance(entries, dict):
        raise _refused(document, where, "must map instance names to their branch and spec.")
    if len(entries) > MAX_INSTANCES_PER_SERVICE:
        raise _refused(
            document,
            where,
            f"lists {len(entries)} instances; at most {MAX_INSTANCES_PER_SERVICE} are allowed.",
        )
    found = []
    for name, entry in entries.items():
        found.append(_instance_source(document, (*where, str(name)), name, entry))
    return OpsFile(path, tuple(sorted(found, key=lambda source: source.name)))


def _instance_source(
    document: YamlDocument, where: tuple[str, ...], name: Any, entry: Any
) -> InstanceSource:
    if not isinstance(name, str) or not _RESOURCE_NAME.match(name) or len(name) > 100:
        raise _refused(
            document, where[:-1], f"{name!r} is not an instance name (letters, digits, _ and -)."
        )
    if not isinstance(entry, dict):
        raise _refused(document, where, "must be a mapping with 'branch' and 'spec'.")
    unknown = sorted(str(key) for key in entry if key not in ("branch", "spec"))
    if unknown:
        raise _refused(document, where, f"unknown key(s) {', '.join(unknown)}.")
    checked: dict[str, str] = {}
    for key, check in (("branch", check_branch), ("spec", repository_path)):
        value = entry.get(key)
        if not isinstance(value, str) or not value:
            raise _refused(document, (*where, key), "is required and must be a string.")
        try:
            checked[key] = check(value, key)
        except InvalidInput as exc:
            raise _refused(document, (*where, key), exc.reason) from exc
    return InstanceSource(name, checked["branch"], checked["spec"])


def _only_key(document: YamlDocument, node: Any, where: tuple[str, ...], key: str) -> Any:
    if not isinstance(node, dict) or key not in node:
        raise _refused(document, where, f"must be a mapping with the key '{key}'.")
    for other in node:
        if other != key:
            raise _refused(document, (*where, str(other)), f"unknown key {other!r}.")
    return node[key]


def _refused(document: YamlDocument, path: tuple[Any, ...], reason: str) -> InvalidInput:
    return InvalidInput(str(document.error(path, reason)))


def repository_path(value: str, field: str) -> str:
    """A file's path relative to the repository's root, as the sync reads it: "./" prefixes
    dropped; absolute paths, "..", empty or hidden-git components refused."""
    path = value
    while path.startswith("./"):
        path = path[2:]
    parts = path.split("/")
    bad = (
        not path
        or len(value) > MAX_PATH_CHARS
        or path.startswith("/")
        or any(part in ("", ".", "..") or part.lower() == ".git" for part in parts)
        or any(ord(ch) < 0x20 or ch in "\\\x7f" for ch in path)
    )
    if bad:
        raise InvalidInput.at(
            (field,),
            f"{value[:200]!r} is not a file path inside the repository (relative to its root, "
            "no '..', no empty folders).",
        )
    if len(parts) > MAX_PATH_DEPTH:
        raise InvalidInput.at(
            (field,), f"the path is {len(parts)} folders deep; at most {MAX_PATH_DEPTH} are read."
        )
    return path


def check_branch(value: str, field: str) -> str:
    if not value or len(value) > MAX_BRANCH_CHARS or _BAD_BRANCH.search(value):
        raise InvalidInput.at((field,), f"{value[:200]!r} is not a git branch name.")
    return value


def same_entry(old: InstanceSpec, new: InstanceSpec) -> bool:
    """Whether two ServiceSpec instance entries ask for the same thing: the same environment
    and the same inputs (an empty spec is no spec)."""
    return bool(old.environment == new.environment and (old.spec or {}) == (new.spec or {}))


# --- configurations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncSource:
    """Where a service's proton-ops file lives (a config, read out of its session)."""

    service_name: str
    repository_provider: str
    repository_name: str
    branch: str
    file_path: str


def find_config(
    session: Session, service_name: str, *, lock: bool = False
) -> ServiceSyncConfigRow | None:
    return session.scalar(_config_of(lock), {"service_name": service_name})


# Built once (building a select and its cache key costs more than running it: issue 17).
@functools.cache
def _config_of(lock: bool) -> Select[tuple[ServiceSyncConfigRow]]:
    stmt = select(ServiceSyncConfigRow).where(
        ServiceSyncConfigRow.service_name == bindparam("service_name")
    )
    return stmt.with_for_update() if lock else stmt


def config_of_service(session: Session, service_name: str) -> ServiceSyncConfigRow | None:
    """GetServiceSyncConfig: the config, or None for a service that has none; a service that
    does not exist (and has no config left) is NotFound."""
    row = find_config(session, service_name)
    if row is None and not _service_exists(session, service_name):
        raise NotFound(f"The service '{service_name}' was not found.")
    return row


def _service_exists(session: Session, service_name: str) -> bool:
    return session.scalar(select(Service.id).where(Service.name == service_name)) is not None


def get_config(session: Session, service_name: str, *, lock: bool = False) -> ServiceSyncConfigRow:
    row = find_config(session, service_name, lock=lock)
    if row is None:
        raise NotFound(f"The service '{service_name}' has no service sync configuration.")
    return row


def source_of(row: ServiceSyncConfigRow) -> SyncSource:
    return SyncSource(
        row.service_name, row.repository_provider, row.repository_name, row.branch, row.file_path
    )


def create_config(
    session: Session,
    *,
    service_name: str,
    repository_provider: str,
    repository_name: str,
    branch: str,
    file_path: str,
    now: datetime,
) -> ServiceSyncConfigRow:
    """A new config; its first sync is enqueued in the same transaction."""
    if not _service_exists(session, service_name):
        raise InvalidInput(
            f"serviceName: the service '{service_name}' does not exist.", field=("serviceName",)
        )
    values = _checked(session, repository_provider, repository_name, branch, file_path)
    if find_config(session, service_name) is not None:
        raise Conflict(
            f"The service '{service_name}' already has a service sync configuration; change it "
            "with UpdateServiceSyncConfig."
        )
    row = ServiceSyncConfigRow(
        service_name=service_name, created_at=now, last_modified_at=now, **values
    )
    session.add(row)
    session.flush()
    request_sync(session, service_name, now)
    return row


def update_config(
    session: Session,
    *,
    service_name: str,
    repository_provider: str,
    repository_name: str,
    branch: str,
    file_path: str,
    now: datetime,
) -> ServiceSyncConfigRow:
    row = get_config(session, service_name, lock=True)
    values = _checked(session, repository_provider, repository_name, branch, file_path)
    for name, value in values.items():
        setattr(row, name, value)
    row.last_modified_at = now
    request_sync(session, service_name, now)
    return row


def delete_config(session: Session, service_name: str) -> ServiceSyncConfigRow:
    """Ends the sync; the instances, their sync history and any blockers stay."""
    row = get_config(session, service_name, lock=True)
    session.delete(row)
    session.flush()
    return row


def _checked(
    session: Session, provider: str, name: str, branch: str, file_path: str
) -> dict[str, str]:
    repositories.require_registered(session, provider, name, "repositoryName")
    return {
        "repository_provider": provider,
        "repository_name": name,
        "branch": check_branch(branch, "branch"),
        "file_path": repository_path(file_path, "filePath"),
    }


def request_sync(session: Session, service_name: str, now: datetime) -> None:
    """One SERVICE_SYNC job for the service (a waiting one covers this request too), and the
    poll that notices pushes where no webhook arrives."""
    jobs.enqueue_once(session, JobKind.SERVICE_SYNC, {"service_name": service_name}, now)
    start_polling(session, now)


def wire_config(row: ServiceSyncConfigRow) -> proton.ServiceSyncConfig:
    return {
        "serviceName": row.service_name,
        "repositoryProvider": proton.RepositoryProvider(row.repository_provider),
        "repositoryName": row.repository_name,
        "branch": row.branch,
        "filePath": row.file_path,
    }


def sync_definitions(
    session: Session, provider: str, name: str
) -> list[proton.RepositorySyncDefinition]:
    """ListRepositorySyncDefinitions for SERVICE_SYNC: for each service synced from this
    repository, its proton-ops file (target: the service) and the spec file each of its
    instances last synced from (target: the instance); parent is the service."""
    definitions: list[proton.RepositorySyncDefinition] = []
    configs = session.scalars(
        select(ServiceSyncConfigRow)
        .where(
            ServiceSyncConfigRow.repository_provider == provider,
            ServiceSyncConfigRow.repository_name == name,
        )
        .order_by(ServiceSyncConfigRow.service_name)
    )
    for config in configs:
        definitions.append(
            {
                "parent": config.service_name,
                "target": config.service_name,
                "branch": config.branch,
                "directory": config.file_path,
            }
        )
        for instance, revision in _latest_instance_revisions(session, config.service_name):
            if (
                revision.get("repositoryProvider") == provider
                and revision.get("repositoryName") == name
            ):
                definitions.append(
                    {
                        "parent": config.service_name,
                        "target": instance,
                        "branch": revision["branch"],
                        "directory": revision["directory"],
                    }
                )
    return definitions


def _latest_instance_revisions(
    session: Session, service_name: str
) -> list[tuple[str, dict[str, Any]]]:
    """Each instance's latest attempt's target revision (one row per instance is read, however
    long the history)."""
    prefix = instance_target(service_name, "")
    newest = (
        select(func.max(SyncAttemptRow.id))
        .where(
            SyncAttemptRow.sync_type == SyncType.SERVICE_SYNC,
            SyncAttemptRow.scope == SyncScope.INSTANCE,
            SyncAttemptRow.target.startswith(prefix, autoescape=True),
        )
        .group_by(SyncAttemptRow.target)
    )
    rows = session.execute(
        select(SyncAttemptRow.target, SyncAttemptRow.target_revision).where(
            SyncAttemptRow.id.in_(newest)
        )
    )
    return sorted((target[len(prefix) :], revision) for target, revision in rows if revision)


# --- blockers ----------------------------------------------------------------------------------


def active_blocker(
    session: Session, service_name: str, instance_name: str | None
) -> SyncBlockerRow | None:
    """What stops the sync of ``instance_name`` (or of the whole service, with None): a
    blocker on the service comes first, then one on the instance."""
    rows = session.scalars(
        select(SyncBlockerRow)
        .where(
            SyncBlockerRow.service_name == service_name,
            SyncBlockerRow.status == BlockerStatus.ACTIVE,
        )
        .order_by(SyncBlockerRow.created_at, SyncBlockerRow.id)
    ).all()
    for row in rows:
        if row.service_instance_name is None:
            return row
    for row in rows:
        if instance_name is not None and row.service_instance_name == instance_name:
            return row
    return None


def record_manual_change(
    session: Session,
    *,
    service_name: str,
    instance_names: Sequence[str],
    change: ManualChange,
    operation: str,
    caller: str,
    now: datetime,
) -> list[SyncBlockerRow]:
    """Blocks what a change made by hand (not by the sync) touched, when the service is
    synced: each created or updated instance, or the whole service when instances were
    deleted. What is blocked already stays blocked by the blocker it has (one active blocker
    per instance, and per service). Returns the new blockers."""
    # The change's own writes cannot touch the sync config: they stay pending for the
    # commit's flush instead of being flushed by this read (one flush less per change).
    with session.no_autoflush:
        config = find_config(session, service_name)
    if config is None or not instance_names:
        return []
    source = f"{config.repository_name} ({config.file_path} on branch {config.branch})"
    who = f"{operation} by {caller}" if caller else operation
    if change == ManualChange.DELETED:
        if _active_on(session, service_name, None) is not None:
            return []
        listed = ", ".join(f"'{name}'" for name in instance_names)
        reason = (
            f"Service instance(s) {listed} of service '{service_name}' were deleted by hand "
            f"({who}) while the service syncs from {source}; the sync of every instance of "
            "the service is blocked until this blocker is resolved."
        )
        contexts = [
            {"key": "serviceName", "value": service_name},
            *({"key": "deletedServiceInstanceName", "value": name} for name in instance_names),
            {"key": "operation", "value": operation},
        ]
        return [_new_blocker(session, service_name, None, reason, contexts, now)]
    made = []
    for name in instance_names:
        if _active_on(session, service_name, name) is not None:
            continue
        reason = (
            f"Service instance '{name}' of service '{service_name}' was {change} by hand "
            f"({who}) while it syncs from {source}; its sync is blocked until this blocker is "
            "resolved."
        )
        contexts = [
            {"key": "serviceName", "value": service_name},
            {"key": "serviceInstanceName", "value": name},
            {"key": "operation", "value": operation},
        ]
        made.append(_new_blocker(session, service_name, name, reason, contexts, now))
    return made


def _active_on(
    session: Session, service_name: str, instance_name: str | None
) -> SyncBlockerRow | None:
    scope = (
        SyncBlockerRow.service_instance_name.is_(None)
        if instance_name is None
        else SyncBlockerRow.service_instance_name == instance_name
    )
    return session.scalar(
        select(SyncBlockerRow).where(
            SyncBlockerRow.service_name == service_name,
            SyncBlockerRow.status == BlockerStatus.ACTIVE,
            scope,
        )
    )


def _new_blocker(
    session: Session,
    service_name: str,
    instance_name: str | None,
    reason: str,
    contexts: list[dict[str, str]],
    now: datetime,
) -> SyncBlockerRow:
    row = SyncBlockerRow(
        id=str(uuid.uuid4()),
        service_name=service_name,
        service_instance_name=instance_name,
        type=BlockerType.AUTOMATED,
        status=BlockerStatus.ACTIVE,
        created_reason=reason,
        created_at=now,
        resolved_reason=None,
        resolved_at=None,
        contexts=contexts,
    )
    session.add(row)
    session.flush()
    return row


def latest_blockers(
    session: Session, service_name: str, instance_name: str | None
) -> list[SyncBlockerRow]:
    """GetServiceSyncBlockerSummary: the active blockers on the instance, or, without one, on
    the whole service (Proton's model: two calls for the two scopes)."""
    if not _service_exists(session, service_name):
        raise NotFound(f"The service '{service_name}' was not found.")
    scope = (
        SyncBlockerRow.service_instance_name.is_(None)
        if instance_name is None
        else SyncBlockerRow.service_instance_name == instance_name
    )
    return list(
        session.scalars(
            select(SyncBlockerRow)
            .where(
                SyncBlockerRow.service_name == service_name,
                SyncBlockerRow.status == BlockerStatus.ACTIVE,
                scope,
            )
            .order_by(SyncBlockerRow.created_at, SyncBlockerRow.id)
        )
    )


def resolve_blocker(
    session: Session, blocker_id: str, reason: str, now: datetime
) -> SyncBlockerRow:
    """RESOLVED; the service's sync runs again at once, so that what the blocker held back
    (a commit pushed meanwhile) is deployed."""
    row = session.get(SyncBlockerRow, blocker_id, with_for_update=True)
    if row is None:
        raise NotFound(f"The service sync blocker '{blocker_id}' was not found.")
    if row.status == BlockerStatus.RESOLVED:
        raise InvalidInput(
            f"id: the service sync blocker '{blocker_id}' was resolved already, at "
            f"{row.resolved_at.isoformat() if row.resolved_at else 'an unknown time'} "
            f"({row.resolved_reason!r}).",
            field=("id",),
        )
    row.status = BlockerStatus.RESOLVED
    row.resolved_reason = reason
    row.resolved_at = now
    if find_config(session, row.service_name) is not None:
        request_sync(session, row.service_name, now)
    return row


def wire_blocker(row: SyncBlockerRow) -> proton.SyncBlocker:
    blocker: proton.SyncBlocker = {
        "id": row.id,
        "type": BlockerType(row.type),
        "status": BlockerStatus(row.status),
        "createdReason": row.created_reason,
        "createdAt": row.created_at,
        "contexts": [{"key": c["key"], "value": c["value"]} for c in row.contexts or []],
    }
    if row.resolved_at is not None:
        blocker["resolvedAt"] = row.resolved_at
        blocker["resolvedReason"] = row.resolved_reason or ""
    return blocker


# --- attempts ------------------------------------------------------------------------------------


def instance_target(service_name: str, instance_name: str) -> str:
    return f"{service_name}/{instance_name}"


def repository_target(provider: str, name: str, branch: str) -> str:
    return f"{provider}/{name}@{branch}"


def latest_instance_attempt(
    session: Session, service_name: str, instance_name: str, *, status: str | None = None
) -> SyncAttemptRow | None:
    return sync_attempts.latest(
        session,
        SyncType.SERVICE_SYNC,
        SyncScope.INSTANCE,
        instance_target(service_name, instance_name),
        status=status,
    )


def instance_sync_status(
    session: Session, service_name: str, instance_name: str
) -> proton.GetServiceInstanceSyncStatusOutput:
    """GetServiceInstanceSyncStatus. An instance the sync failed to create has no row yet but
    has attempts, and its status is what explains why."""
    if not _service_exists(session, service_name):
        raise NotFound(f"The service '{service_name}' was not found.")
    latest = latest_instance_attempt(session, service_name, instance_name)
    if latest is None:
        exists = session.scalar(
            select(ServiceInstance.id).where(
                ServiceInstance.service_name == service_name,
                ServiceInstance.name == instance_name,
            )
        )
        if exists is None:
            raise NotFound(
                f"The service instance '{instance_name}' of service '{service_name}' was not found."
            )
        return {}
    succeeded = latest_instance_attempt(
        session, service_name, instance_name, status=ResourceSyncStatus.SUCCEEDED
    )
    result: proton.GetServiceInstanceSyncStatusOutput = {
        "latestSync": sync_attempts.wire_attempt(latest)
    }
    if succeeded is not None:
        result["latestSuccessfulSync"] = sync_attempts.wire_attempt(succeeded)
    if latest.target_revision:
        result["desiredState"] = latest.target_revision  # type: ignore[typeddict-item]
    return result


def repository_status(
    session: Session, provider: str, name: str, branch: str
) -> proton.RepositorySyncAttempt | None:
    """GetRepositorySyncStatus for SERVICE_SYNC: the latest reading of a branch by a service
    sync (a proton-ops file, or the spec files of instances)."""
    row = sync_attempts.latest(
        session,
        SyncType.SERVICE_SYNC,
        SyncScope.REPOSITORY,
        repository_target(provider, name, branch),
    )
    return None if row is None else sync_attempts.wire_repository_attempt(row)


def deployment_ended(session: Session, deployment: Deployment, now: datetime) -> None:
    """Ends the instance sync attempt that started ``deployment``, in the transaction that
    records the deployment's outcome (domain/services.after_deployment)."""
    if (
        deployment.target_type != DeploymentTargetResourceType.SERVICE_INSTANCE
        or deployment.service_name is None
        or deployment.service_instance_name is None
    ):
        return
    row = latest_instance_attempt(
        session, deployment.service_name, deployment.service_instance_name
    )
    if row is not None:
        finish_attempt(row, deployment, now)


def finish_attempt(row: SyncAttemptRow, deployment: Deployment | None, now: datetime) -> bool:
    """Ends an IN_PROGRESS attempt whose deployment (its last event's externalId) ended, or
    is gone. Returns whether the attempt ended."""
    if row.status != ResourceSyncStatus.IN_PROGRESS or not row.events:
        return False
    started = row.events[-1].get("externalId")
    if deployment is not None and deployment.id != started:
        return False
    if deployment is None:
        sync_attempts.add_event(
            row,
            f"Deployment {started} no longer exists.",
            SyncEventType.DEPLOYMENT_FAILED,
            now,
            external_id=started,
            status=ResourceSyncStatus.FAILED,
        )
        return True
    if deployment.status == DeploymentStatus.SUCCEEDED:
        sync_attempts.add_event(
            row,
            f"Deployment {deployment.id} succeeded.",
            SyncEventType.DEPLOYMENT_SUCCEEDED,
            now,
            external_id=deployment.id,
            status=ResourceSyncStatus.SUCCEEDED,
        )
        return True
    if deployment.status in (
        DeploymentStatus.FAILED,
        DeploymentStatus.CANCELLED,
        DeploymentStatus.DELETE_COMPLETE,
        DeploymentStatus.DELETE_FAILED,
    ):
        sync_attempts.add_event(
            row,
            f"Deployment {deployment.id} ended {deployment.status}: "
            f"{deployment.status_message or 'no reason given'}",
            SyncEventType.DEPLOYMENT_FAILED,
            now,
            external_id=deployment.id,
            status=ResourceSyncStatus.FAILED,
        )
        return True
    return False
