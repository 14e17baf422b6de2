"""Template sync: a template's versions follow its folders in a repository (reference section
5.1, Proton's rules).

- A TemplateSyncConfig names the repository, branch and (optionally) a subdirectory. The
  template's folder is the first folder named like the template (breadth first, names in
  order) under the subdirectory, or the subdirectory itself when it bears the template's
  name; inside it, each ``v<N>/`` folder is the bundle of major version N.
- A ``v<N>/`` folder whose content differs from the bundle of the last minor version synced
  into major N (or that version was deleted, or there is none) becomes a new minor version,
  or version N.0 when major N does not exist yet. Versions created by hand are never
  touched, and never count as synced: a synced version's ``source`` is ``{"git": ...}``,
  the revision it came from and its content digest.
- A synced version passes the same checks as CreateTemplateVersion's (the registration
  job's, engine/registration.py) and is recorded with its outcome, DRAFT or
  REGISTRATION_FAILED, in one transaction: there is never a half-made version.
- Every sync of a major version is an attempt (domain/sync_attempts.py, scope TEMPLATE,
  target "<type>/<template>/<major>"); every reading of the branch is a repository attempt
  (scope REPOSITORY), as GetTemplateSyncStatus and GetRepositorySyncStatus report them.

No git is spoken here: engine/template_sync.py reads the repository and calls these rules.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.bundles.loader import content_digest
from baryon.bundles.paths import is_ignored
from baryon.domain import repositories, sync_attempts
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.domain.git import SyncScope, start_polling
from baryon.domain.service_sync import check_branch, repository_path, repository_target
from baryon.domain.sync_attempts import Revision
from baryon.domain.templates import TemplateKind
from baryon.service_models import proton
from baryon.service_models.proton import (
    RepositorySyncStatus,
    ResourceSyncStatus,
    SyncType,
)
from baryon.store import jobs
from baryon.store.jobs import JobKind, JobStatus
from baryon.store.tables import (
    Job,
    RepositoryBranch,
    SyncAttemptRow,
    Template,
    TemplateSyncConfigRow,
    TemplateVersion,
)

# "v1", "v2", ...: a major version's folder. Proton's TemplateVersionPart has no leading
# zeros; nine digits keep a hostile "v999..." from overflowing anything.
_MAJOR_FOLDER = re.compile(r"^v(0|[1-9][0-9]{0,8})$")
# How far the search for a template's folder looks: a repository of templates keeps them near
# its root, and a hostile one cannot make the worker walk a million folders.
MAX_SEARCH_DEPTH = 8
MAX_SEARCHED_FOLDERS = 2000
# Major versions one sync reads; Proton's quota is 500 versions per template anyway.
MAX_MAJOR_VERSIONS = 100
_IN_FLIGHT = (ResourceSyncStatus.INITIATED, ResourceSyncStatus.IN_PROGRESS)


class SyncEventType(StrEnum):
    """What a template sync event is about (ResourceSyncEvent.type, RepositorySyncEvent.type).
    The repository's three are the types Proton's own guide shows."""

    CLONE_STARTED = "CLONE_STARTED"  # the branch is being fetched
    STARTING_SYNC = "STARTING_SYNC"  # the branch's head was read; externalId: the commit
    TEMPLATE_NOT_FOUND = "TEMPLATE_NOT_FOUND"  # no folder of the template at that commit
    SYNC_STARTED = "SYNC_STARTED"  # a major version's sync began; externalId: the commit
    NO_CHANGE = "NO_CHANGE"  # the folder holds the bundle of the last synced version
    VERSION_CREATED = "VERSION_CREATED"  # externalId: the commit
    REGISTRATION_FAILED = "REGISTRATION_FAILED"  # a version was made, its registration failed
    FAILED = "FAILED"  # the sync could not end in a version (its reason in the event)


# --- configurations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncSource:
    """Where a template's versions come from (a config, read out of its session)."""

    kind: TemplateKind
    template_name: str
    repository_provider: str
    repository_name: str
    branch: str
    subdirectory: str | None

    @property
    def label(self) -> str:
        return f"{self.kind.label} '{self.template_name}'"


def find_config(
    session: Session, kind: TemplateKind, name: str, *, lock: bool = False
) -> TemplateSyncConfigRow | None:
    stmt = select(TemplateSyncConfigRow).where(
        TemplateSyncConfigRow.template_type == kind.value,
        TemplateSyncConfigRow.template_name == name,
    )
    return session.scalar(stmt.with_for_update() if lock else stmt)


def get_config(
    session: Session, kind: TemplateKind, name: str, *, lock: bool = False
) -> TemplateSyncConfigRow:
    row = find_config(session, kind, name, lock=lock)
    if row is None:
        raise NotFound(f"The {kind.label} '{name}' has no template sync configuration.")
    return row


def source_of(row: TemplateSyncConfigRow) -> SyncSource:
    return SyncSource(
        TemplateKind(row.template_type),
        row.template_name,
        row.repository_provider,
        row.repository_name,
        row.branch,
        row.subdirectory,
    )


def create_config(
    session: Session,
    kind: TemplateKind,
    name: str,
    *,
    repository_provider: str,
    repository_name: str,
    branch: str,
    subdirectory: str | None,
    now: datetime,
) -> TemplateSyncConfigRow:
    """A new config; the sync of its branch's head is enqueued in the same transaction.
    Proton: the template must exist (sync never creates templates), and one template syncs
    from one repository only."""
    exists = session.scalar(
        select(Template.id).where(Template.kind == kind.value, Template.name == name)
    )
    if exists is None:
        raise InvalidInput(
            f"templateName: the {kind.label} '{name}' does not exist; create it first "
            "(template sync creates versions, never templates).",
            field=("templateName",),
        )
    values = _checked(session, repository_provider, repository_name, branch, subdirectory)
    if find_config(session, kind, name) is not None:
        raise Conflict(
            f"The {kind.label} '{name}' already has a template sync configuration; change it "
            "with UpdateTemplateSyncConfig."
        )
    row = TemplateSyncConfigRow(
        template_type=kind.value,
        template_name=name,
        created_at=now,
        last_modified_at=now,
        **values,
    )
    session.add(row)
    session.flush()
    request_sync(session, kind, name, now)
    return row


def update_config(
    session: Session,
    kind: TemplateKind,
    name: str,
    *,
    repository_provider: str,
    repository_name: str,
    branch: str,
    subdirectory: str | None,
    now: datetime,
) -> TemplateSyncConfigRow:
    """A sync running from the old branch finishes first (it read the config when it began);
    the sync enqueued here waits for it (engine/template_sync.py) and reads the new one."""
    row = get_config(session, kind, name, lock=True)
    values = _checked(session, repository_provider, repository_name, branch, subdirectory)
    for field, value in values.items():
        setattr(row, field, value)
    row.last_modified_at = now
    request_sync(session, kind, name, now)
    return row


def delete_config(session: Session, kind: TemplateKind, name: str) -> TemplateSyncConfigRow:
    """Ends the sync; the versions it made and its history stay."""
    row = get_config(session, kind, name, lock=True)
    session.delete(row)
    session.flush()
    return row


def _checked(
    session: Session, provider: str, name: str, branch: str, subdirectory: str | None
) -> dict[str, Any]:
    repositories.require_registered(session, provider, name, "repositoryName")
    return {
        "repository_provider": provider,
        "repository_name": name,
        "branch": check_branch(branch, "branch"),
        "subdirectory": check_subdirectory(subdirectory),
    }


def check_subdirectory(value: str | None) -> str | None:
    """A folder relative to the repository's root, as Proton's examples write it ("templates",
    "/production-templates/", "env-template/"): kept without its outer slashes; the root
    (empty or "/") is no subdirectory."""
    if value is None:
        return None
    inner = value.strip("/")
    while inner.startswith("./"):
        inner = inner[2:].lstrip("/")
    if inner in ("", "."):
        return None
    if "//" in inner:
        raise InvalidInput.at(
            ("subdirectory",), f"{value[:200]!r} is not a folder inside the repository."
        )
    return repository_path(inner, "subdirectory")


def request_sync(session: Session, kind: TemplateKind, name: str, now: datetime) -> None:
    """One TEMPLATE_SYNC job for the template (a waiting one covers this request too), and the
    poll that notices pushes where no webhook arrives."""
    jobs.enqueue_once(session, JobKind.TEMPLATE_SYNC, sync_payload(kind, name), now)
    start_polling(session, now)


def sync_payload(kind: TemplateKind, name: str) -> dict[str, str]:
    return {"template_type": kind.value, "template_name": name}


def wire_config(row: TemplateSyncConfigRow) -> proton.TemplateSyncConfig:
    config: proton.TemplateSyncConfig = {
        "templateName": row.template_name,
        "templateType": proton.TemplateType(row.template_type),
        "repositoryProvider": proton.RepositoryProvider(row.repository_provider),
        "repositoryName": row.repository_name,
        "branch": row.branch,
    }
    if row.subdirectory:
        config["subdirectory"] = row.subdirectory
    return config


# --- finding the bundles -----------------------------------------------------------------------

# The names of the folders directly inside a folder of the commit being synced ("" = root).
FolderLister = Callable[[str], list[str]]


@dataclass(frozen=True)
class MajorFolder:
    major: int
    path: str  # relative to the repository's root, e.g. "templates/my-env/v1"


def find_template_folder(name: str, subdirectory: str | None, folders: FolderLister) -> str | None:
    """Proton: "the first directory that matched the template name", searched under the
    subdirectory when one is set. Breadth first, names in order, so the answer is stable."""
    top = subdirectory or ""
    if top and top.rsplit("/", 1)[-1] == name:
        return top
    queue: deque[tuple[str, int]] = deque([(top, 0)])
    searched = 0
    while queue:
        folder, depth = queue.popleft()
        searched += 1
        if searched > MAX_SEARCHED_FOLDERS:
            break
        children = [child for child in folders(folder) if not is_ignored(child)]
        for child in children:
            if child == name:
                return _join(folder, child)
        if depth + 1 < MAX_SEARCH_DEPTH:
            queue.extend((_join(folder, child), depth + 1) for child in children)
    return None


def major_folders(template_folder: str, folders: FolderLister) -> list[MajorFolder]:
    """The ``v<N>`` folders of a template's folder, by major version; other folders (a
    ``spec/`` beside them, say) are not bundles."""
    found = []
    for child in folders(template_folder):
        match = _MAJOR_FOLDER.match(child)
        if match:
            found.append(MajorFolder(int(match.group(1)), _join(template_folder, child)))
    return sorted(found, key=lambda folder: folder.major)[:MAX_MAJOR_VERSIONS]


def _join(folder: str, child: str) -> str:
    return f"{folder}/{child}" if folder else child


def bundle_files(files: dict[str, bytes]) -> dict[str, bytes]:
    """A major version folder's files as its bundle holds them: editor and OS droppings left
    out, as uploads and `baryon template publish` leave them out."""
    return {
        path: content
        for path, content in sorted(files.items())
        if not any(is_ignored(part) for part in path.split("/"))
    }


def bundle_digest(files: dict[str, bytes]) -> str:
    return content_digest(files)


# --- synced versions -------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncedFrom:
    """Where a synced version came from: what its ``source`` column holds."""

    revision: Revision
    digest: str  # bundle_digest of the folder's files

    def source(self) -> dict[str, Any]:
        return {"git": {**self.revision.wire(), "digest": self.digest}}


def synced_from(version: TemplateVersion) -> SyncedFrom | None:
    git = (version.source or {}).get("git")
    if not isinstance(git, dict):
        return None  # created by hand (an S3 bundle)
    return SyncedFrom(
        Revision(
            git["repositoryProvider"],
            git["repositoryName"],
            git["branch"],
            git["sha"],
            git["directory"],
        ),
        git["digest"],
    )


def last_synced_version(session: Session, template_id: int, major: int) -> TemplateVersion | None:
    """The highest surviving minor version of ``major`` that template sync made."""
    versions = session.scalars(
        select(TemplateVersion)
        .where(TemplateVersion.template_id == template_id, TemplateVersion.major == major)
        .order_by(TemplateVersion.minor.desc())
    )
    for version in versions:
        if synced_from(version) is not None:
            return version
    return None


def is_unchanged(version: TemplateVersion | None, digest: str) -> bool:
    origin = None if version is None else synced_from(version)
    return origin is not None and origin.digest == digest


def next_number(session: Session, template_id: int, major: int) -> tuple[int, int]:
    """Major ``major``'s next minor version, or ``major``.0 when it does not exist yet (Proton
    creates missing major versions, numbered as their folders are)."""
    highest = session.scalar(
        select(TemplateVersion.minor)
        .where(TemplateVersion.template_id == template_id, TemplateVersion.major == major)
        .order_by(TemplateVersion.minor.desc())
        .limit(1)
    )
    return major, 0 if highest is None else highest + 1


def description(origin: SyncedFrom) -> str:
    revision = origin.revision
    return (
        f"Synced from {revision.repository_name} ({revision.repository_provider}), branch "
        f"{revision.branch}, commit {revision.sha}, folder {revision.directory}"
    )[:500]


# --- attempts and status -----------------------------------------------------------------------


def attempt_target(kind: TemplateKind, name: str, major: int) -> str:
    return f"{kind.value}/{name}/{major}"


def attempts_in_flight(session: Session, kind: TemplateKind, name: str) -> list[SyncAttemptRow]:
    """The template's attempts not yet ended (only a dead job leaves some behind)."""
    return list(
        session.scalars(
            select(SyncAttemptRow).where(
                SyncAttemptRow.sync_type == SyncType.TEMPLATE_SYNC,
                SyncAttemptRow.scope == SyncScope.TEMPLATE,
                SyncAttemptRow.target.startswith(f"{kind.value}/{name}/", autoescape=True),
                SyncAttemptRow.status.in_(_IN_FLIGHT),
            )
        )
    )


def template_sync_status(
    session: Session, kind: TemplateKind, name: str, major: int
) -> proton.GetTemplateSyncStatusOutput:
    """GetTemplateSyncStatus: the latest and latest successful attempts of one major version,
    and the revision it is to be synced to (the branch's newest known head)."""
    found = session.scalar(
        select(Template.id).where(Template.kind == kind.value, Template.name == name)
    )
    if found is None:
        raise NotFound(f"The {kind.label} '{name}' was not found.")
    target = attempt_target(kind, name, major)
    result: proton.GetTemplateSyncStatusOutput = {}
    latest = sync_attempts.latest(session, SyncType.TEMPLATE_SYNC, SyncScope.TEMPLATE, target)
    if latest is None:
        return result
    result["latestSync"] = _wire(latest, name)
    succeeded = sync_attempts.latest(
        session,
        SyncType.TEMPLATE_SYNC,
        SyncScope.TEMPLATE,
        target,
        status=ResourceSyncStatus.SUCCEEDED,
    )
    if succeeded is not None:
        result["latestSuccessfulSync"] = _wire(succeeded, name)
    desired = dict(latest.target_revision or {})
    if desired:
        head = session.scalar(
            select(RepositoryBranch.last_sha).where(
                RepositoryBranch.repository_provider == desired["repositoryProvider"],
                RepositoryBranch.repository_name == desired["repositoryName"],
                RepositoryBranch.branch == desired["branch"],
            )
        )
        if head:
            desired["sha"] = head
        result["desiredState"] = desired  # type: ignore[typeddict-item]
    return result


def _wire(row: SyncAttemptRow, name: str) -> proton.ResourceSyncAttempt:
    attempt = sync_attempts.wire_attempt(row)
    attempt["target"] = name  # the template, as Proton names what was synced to
    return attempt


def repository_status(
    session: Session, provider: str, name: str, branch: str
) -> proton.RepositorySyncAttempt | None:
    """GetRepositorySyncStatus for TEMPLATE_SYNC: the latest reading of the branch, or QUEUED
    while a template sync of that branch waits to run (a push not read yet)."""
    row = sync_attempts.latest(
        session,
        SyncType.TEMPLATE_SYNC,
        SyncScope.REPOSITORY,
        repository_target(provider, name, branch),
    )
    waiting = _waiting_since(session, provider, name, branch)
    if waiting is not None and (row is None or waiting > row.started_at):
        return {"status": RepositorySyncStatus.QUEUED, "startedAt": waiting, "events": []}
    return None if row is None else sync_attempts.wire_repository_attempt(row)


def _waiting_since(session: Session, provider: str, name: str, branch: str) -> datetime | None:
    """When the oldest TEMPLATE_SYNC job still waiting for a template of this branch was
    asked for (None: none waits)."""
    synced_here = {
        (kind, template)
        for kind, template in session.execute(
            select(TemplateSyncConfigRow.template_type, TemplateSyncConfigRow.template_name).where(
                TemplateSyncConfigRow.repository_provider == provider,
                TemplateSyncConfigRow.repository_name == name,
                TemplateSyncConfigRow.branch == branch,
            )
        )
    }
    if not synced_here:
        return None
    queued = session.execute(
        select(Job.payload, Job.created_at).where(
            Job.kind == JobKind.TEMPLATE_SYNC, Job.status == JobStatus.QUEUED
        )
    )
    since = [
        created
        for payload, created in queued
        if (payload.get("template_type"), payload.get("template_name")) in synced_here
    ]
    return min(since, default=None)


def sync_definitions(
    session: Session, provider: str, name: str
) -> list[proton.RepositorySyncDefinition]:
    """ListRepositorySyncDefinitions for TEMPLATE_SYNC: one per template synced from this
    repository; parent and target are the template (as a service sync names its service),
    directory its folder as the last sync found it (before any, the subdirectory)."""
    definitions: list[proton.RepositorySyncDefinition] = []
    configs = session.scalars(
        select(TemplateSyncConfigRow)
        .where(
            TemplateSyncConfigRow.repository_provider == provider,
            TemplateSyncConfigRow.repository_name == name,
        )
        .order_by(TemplateSyncConfigRow.template_name, TemplateSyncConfigRow.template_type)
    )
    for config in configs:
        definitions.append(
            {
                "parent": config.template_name,
                "target": config.template_name,
                "branch": config.branch,
                "directory": _template_folder(session, config) or config.subdirectory or "/",
            }
        )
    return definitions


def _template_folder(session: Session, config: TemplateSyncConfigRow) -> str | None:
    """The folder holding the template's ``v<N>/`` folders, from its latest attempt on the
    config's repository."""
    revision = session.scalar(
        select(SyncAttemptRow.target_revision)
        .where(
            SyncAttemptRow.sync_type == SyncType.TEMPLATE_SYNC,
            SyncAttemptRow.scope == SyncScope.TEMPLATE,
            SyncAttemptRow.target.startswith(
                f"{config.template_type}/{config.template_name}/", autoescape=True
            ),
        )
        .order_by(SyncAttemptRow.id.desc())
        .limit(1)
    )
    if not revision or revision.get("repositoryName") != config.repository_name:
        return None
    folder: str = revision.get("directory", "").rpartition("/")[0]
    return folder or None


def failed_service_syncs(session: Session, provider: str, name: str) -> list[str]:
    """Service templates synced from this repository whose latest sync of some major version
    failed: an environment major version synced just now may be what they lacked (Proton: an
    environment template and a service template listing it may arrive in one commit)."""
    names = []
    for template in session.scalars(
        select(TemplateSyncConfigRow.template_name).where(
            TemplateSyncConfigRow.template_type == TemplateKind.SERVICE.value,
            TemplateSyncConfigRow.repository_provider == provider,
            TemplateSyncConfigRow.repository_name == name,
        )
    ):
        latest_by_major: dict[str, str] = {}
        for target, status in session.execute(
            select(SyncAttemptRow.target, SyncAttemptRow.status)
            .where(
                SyncAttemptRow.sync_type == SyncType.TEMPLATE_SYNC,
                SyncAttemptRow.scope == SyncScope.TEMPLATE,
                SyncAttemptRow.target.startswith(
                    f"{TemplateKind.SERVICE.value}/{template}/", autoescape=True
                ),
            )
            .order_by(SyncAttemptRow.id)
        ):
            latest_by_major[target] = status
        if ResourceSyncStatus.FAILED in latest_by_major.values():
            names.append(template)
    return names
