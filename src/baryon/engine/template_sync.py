"""The TEMPLATE_SYNC job: a template's ``v<N>/`` folders on its branch's head become versions
(domain/template_sync.py holds the rules).

One job syncs one template, always from the branch's head when it runs, so pushes that arrive
while it waits are batched into one run. Only one job per template runs at a time: a job
claims the template's sync config (``sync_job_id``, taken under the row's lock); a second job
finding a live claim hands its work to a successor that runs after the first, and a dead
job's claim (its lease lapsed) is taken over. Every step can be re-run: a version is made,
with its registration's outcome, in one transaction that first checks that no earlier run
made it; attempts a dead job left open are closed when the next one claims the template.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.bundles.errors import BundleError
from baryon.bundles.loader import Bundle
from baryon.bundles.pack import pack_files
from baryon.bundles.registration import LEGACY_FILE, REGISTRATION_FILE
from baryon.domain import sync_attempts, template_sync
from baryon.domain.audit_changes import (
    SystemChange,
    error_code,
    record_system_change,
)
from baryon.domain.errors import DomainError, InvalidInput, NotFound, QuotaExceeded
from baryon.domain.git import SyncScope
from baryon.domain.service_sync import repository_target
from baryon.domain.sync_attempts import Revision
from baryon.domain.tags import inherit_tags
from baryon.domain.template_sync import (
    MajorFolder,
    SyncedFrom,
    SyncEventType,
    SyncSource,
)
from baryon.domain.template_versions import (
    check_compatible_environments,
    check_version_quota,
    version_arn,
)
from baryon.domain.templates import TemplateKind, find_template, template_arn
from baryon.engine.handlers import JobContext, LeaseLost, TransientError, register_job
from baryon.engine.registration import (
    RegistrationFailed,
    check_compatibility,
    checked_bundle,
    sibling_schemas,
)
from baryon.git.access import RepositoryAccess
from baryon.git.errors import GitAuthRefused, GitError, GitLimitExceeded, GitNotFound
from baryon.git.forges.base import ForgeError
from baryon.service_models import PROTON
from baryon.service_models.baryon import AuditDoor, AuditResult
from baryon.service_models.proton import (
    RepositorySyncStatus,
    ResourceSyncStatus,
    SyncType,
    TemplateVersionStatus,
)
from baryon.store import jobs
from baryon.store.jobs import JobKind, JobStatus
from baryon.store.tables import Job, SyncAttemptRow, Template, TemplateVersion

log = logging.getLogger(__name__)

# A job finding another one syncing its template runs again this much later (the running one
# brings it forward when it finishes).
DEFER = timedelta(seconds=2)
# What a repository refuses for good: retrying changes nothing until someone fixes it.
_PERMANENT_GIT = (GitNotFound, GitAuthRefused, GitLimitExceeded)


def run(context: JobContext, payload: dict[str, Any]) -> None:
    kind = TemplateKind(payload["template_type"])
    name = payload["template_name"]
    source = _claim(context, kind, name)
    if source is None:
        return
    try:
        _sync(context, source)
    finally:
        if not context.lease_lost.is_set():  # else the job's new owner holds the claim
            _release(context, kind, name)


def give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    kind = TemplateKind(payload["template_type"])
    name = payload["template_name"]
    now = datetime.now(UTC)
    with context.runtime.db.session(write=True) as session:
        for attempt in template_sync.attempts_in_flight(session, kind, name):
            sync_attempts.add_event(
                attempt,
                f"Sync failed after {context.attempt} attempts: {error}",
                SyncEventType.FAILED,
                now,
                status=ResourceSyncStatus.FAILED,
            )
    _release(context, kind, name)


# --- one sync per template at a time ---------------------------------------------------------


def _claim(context: JobContext, kind: TemplateKind, name: str) -> SyncSource | None:
    now = datetime.now(UTC)
    with context.runtime.db.session(write=True) as session:
        config = template_sync.find_config(session, kind, name, lock=True)
        if config is None:
            return None  # the config was deleted after this job was asked for
        holder = config.sync_job_id
        if holder not in (None, context.job_id) and _running(session, holder, now):
            jobs.enqueue_once(
                session,
                JobKind.TEMPLATE_SYNC,
                template_sync.sync_payload(kind, name),
                now,
                run_after=now + DEFER,
            )
            log.info("%s %s is being synced by job %s; trying again later", kind, name, holder)
            return None
        config.sync_job_id = context.job_id
        for attempt in template_sync.attempts_in_flight(session, kind, name):
            sync_attempts.add_event(
                attempt,
                "Interrupted: the worker running this sync stopped; a new attempt follows.",
                SyncEventType.FAILED,
                now,
                status=ResourceSyncStatus.FAILED,
            )
        return template_sync.source_of(config)


def _running(session: Session, job_id: int, now: datetime) -> bool:
    job = session.get(Job, job_id)
    return bool(
        job is not None
        and job.status == JobStatus.RUNNING
        and job.lease_expires_at is not None
        and job.lease_expires_at > now
    )


def _release(context: JobContext, kind: TemplateKind, name: str) -> None:
    now = datetime.now(UTC)
    payload = template_sync.sync_payload(kind, name)
    with context.runtime.db.session(write=True) as session:
        config = template_sync.find_config(session, kind, name, lock=True)
        if config is not None and config.sync_job_id == context.job_id:
            config.sync_job_id = None
        # A sync asked for while this one ran waits (see _claim): it may run now.
        for job in session.scalars(
            select(Job).where(Job.kind == JobKind.TEMPLATE_SYNC, Job.status == JobStatus.QUEUED)
        ):
            if job.payload == payload and job.run_after > now:
                job.run_after = now
    context.runtime.job_wakeup.set()


# --- the sync --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reading:
    """What the branch's head holds for the template."""

    head: str
    folder: str | None  # the template's folder; None when the commit has none
    majors: list[MajorFolder]


def _sync(context: JobContext, source: SyncSource) -> None:
    started = datetime.now(UTC)
    try:
        access = context.runtime.git_access.repository(
            source.repository_provider, source.repository_name
        )
        reading = _read_branch(access, source)
    except (DomainError, ForgeError, GitError) as exc:
        transient = isinstance(exc, GitError) and not isinstance(exc, _PERMANENT_GIT)
        _record_repository_failure(context, source, started, str(exc))
        if transient:
            raise TransientError(str(exc)) from exc
        return
    created = False
    for folder, attempt_id in _record_reading(context, source, started, reading):
        if context.lease_lost.is_set():
            raise LeaseLost()
        created |= _sync_major(context, source, access, reading.head, folder, attempt_id)
    if created and source.kind is TemplateKind.ENVIRONMENT:
        _wake_service_syncs(context, source)


def _read_branch(access: RepositoryAccess, source: SyncSource) -> _Reading:
    head = access.remote.branch_head(source.branch)
    if head is None:
        raise GitNotFound(
            f"the branch '{source.branch}' does not exist in {source.repository_name}"
        )

    def folders(path: str) -> list[str]:
        return access.remote.folders_at(head, path)

    folder = template_sync.find_template_folder(source.template_name, source.subdirectory, folders)
    majors = [] if folder is None else template_sync.major_folders(folder, folders)
    return _Reading(head, folder, majors)


def _record_repository_failure(
    context: JobContext, source: SyncSource, started: datetime, reason: str
) -> None:
    now = datetime.now(UTC)
    with context.runtime.db.session(write=True) as session:
        attempt = _repository_attempt(session, source, started)
        sync_attempts.add_event(
            attempt,
            f"Reading branch '{source.branch}' for {source.label} failed: {reason}",
            SyncEventType.FAILED,
            now,
            status=RepositorySyncStatus.FAILED,
        )


def _record_reading(
    context: JobContext, source: SyncSource, started: datetime, reading: _Reading
) -> list[tuple[MajorFolder, int]]:
    """The repository attempt (the branch was read), and one INITIATED attempt per major
    version to sync, in one transaction; returns them with their attempt ids. A major version
    whose last sync succeeded from the same commit and folder is not synced again (a poll
    and a webhook may both announce one push)."""
    now = datetime.now(UTC)
    with context.runtime.db.session(write=True) as session:
        attempt = _repository_attempt(session, source, started)
        read = _revision(source, reading.head, reading.folder or "/")
        attempt.target_revision = dict(read.wire())
        sync_attempts.add_event(
            attempt,
            f"Starting syncs for commit {reading.head}",
            SyncEventType.STARTING_SYNC,
            now,
            external_id=reading.head,
        )
        where = f"'{source.subdirectory}'" if source.subdirectory else "the repository"
        if reading.folder is None:
            sync_attempts.add_event(
                attempt,
                f"No folder named '{source.template_name}' in {where} at commit "
                f"{reading.head}: nothing to sync for {source.label}",
                SyncEventType.TEMPLATE_NOT_FOUND,
                now,
            )
        elif not reading.majors:
            sync_attempts.add_event(
                attempt,
                f"The folder '{reading.folder}' holds no major version folders (v1, v2, ...): "
                f"nothing to sync for {source.label}",
                SyncEventType.TEMPLATE_NOT_FOUND,
                now,
            )
        attempt.status = RepositorySyncStatus.SUCCEEDED
        ids = []
        for folder in reading.majors:
            target = template_sync.attempt_target(source.kind, source.template_name, folder.major)
            desired = _revision(source, reading.head, folder.path)
            last = sync_attempts.latest(session, SyncType.TEMPLATE_SYNC, SyncScope.TEMPLATE, target)
            if (
                last is not None
                and last.status == ResourceSyncStatus.SUCCEEDED
                and last.target_revision == dict(desired.wire())
            ):
                continue
            previous = sync_attempts.latest(
                session,
                SyncType.TEMPLATE_SYNC,
                SyncScope.TEMPLATE,
                target,
                status=ResourceSyncStatus.SUCCEEDED,
            )
            row = sync_attempts.start(
                session,
                SyncType.TEMPLATE_SYNC,
                SyncScope.TEMPLATE,
                target,
                now,
                desired=desired,
            )
            if previous is not None and previous.target_revision:
                row.initial_revision = dict(previous.target_revision)
            ids.append((folder, row.id))
        if reading.majors and not ids:
            sync_attempts.add_event(
                attempt,
                f"Every major version of {source.label} is synced at this commit already",
                SyncEventType.NO_CHANGE,
                now,
            )
        return ids


def _repository_attempt(session: Session, source: SyncSource, started: datetime) -> SyncAttemptRow:
    attempt = sync_attempts.start(
        session,
        SyncType.TEMPLATE_SYNC,
        SyncScope.REPOSITORY,
        repository_target(source.repository_provider, source.repository_name, source.branch),
        started,
        status=RepositorySyncStatus.IN_PROGRESS,
    )
    sync_attempts.add_event(
        attempt,
        f"Fetching branch '{source.branch}' of {source.repository_name} for {source.label}",
        SyncEventType.CLONE_STARTED,
        started,
    )
    return attempt


def _revision(source: SyncSource, sha: str, directory: str) -> Revision:
    return Revision(
        source.repository_provider, source.repository_name, source.branch, sha, directory
    )


# --- one major version -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    """A folder's bundle after the registration checks that need no database."""

    origin: SyncedFrom
    archive: bytes | None  # None: the files could not even be packed
    bundle: Bundle | None  # None: the checks failed, for ``failure``
    failure: str | None
    registration_file: str  # which file named the compatible environments (messages)


def _sync_major(
    context: JobContext,
    source: SyncSource,
    access: RepositoryAccess,
    head: str,
    folder: MajorFolder,
    attempt_id: int,
) -> bool:
    """Syncs ``folder`` into its major version; True when a version was made."""
    runtime = context.runtime
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        attempt = _attempt(session, attempt_id)
        sync_attempts.add_event(
            attempt,
            f"Sync started for commit {head} ({folder.path})",
            SyncEventType.SYNC_STARTED,
            now,
            external_id=head,
            status=ResourceSyncStatus.IN_PROGRESS,
        )
    try:
        files = template_sync.bundle_files(access.remote.files_at(head, folder.path))
    except GitError as exc:
        _fail(context, attempt_id, f"Reading {folder.path} failed: {exc}")
        if not isinstance(exc, _PERMANENT_GIT):
            raise TransientError(str(exc)) from exc
        return False
    origin = SyncedFrom(_revision(source, head, folder.path), template_sync.bundle_digest(files))
    with runtime.db.session() as session:
        try:
            template = find_template(session, source.kind, source.template_name)
        except NotFound as exc:
            _fail(context, attempt_id, exc.message)
            return False
        provisioning = template.provisioning
        last = template_sync.last_synced_version(session, template.id, folder.major)
        unchanged = template_sync.is_unchanged(last, origin.digest)
    checked = None if unchanged else _check(context, source.kind, provisioning, files, origin)
    made = _record(context, source, folder, attempt_id, origin, checked)
    if made is None:  # the version it matched was deleted meanwhile: check the bundle after all
        checked = _check(context, source.kind, provisioning, files, origin)
        made = _record(context, source, folder, attempt_id, origin, checked)
    return bool(made)


def _check(
    context: JobContext,
    kind: TemplateKind,
    provisioning: str | None,
    files: dict[str, bytes],
    origin: SyncedFrom,
) -> _Checked:
    settings = context.runtime.settings
    registration_file = REGISTRATION_FILE if REGISTRATION_FILE in files else LEGACY_FILE
    try:
        archive = pack_files(files, settings.bundle_limits)
    except BundleError as exc:
        return _Checked(origin, None, None, str(exc), registration_file)
    try:
        bundle = checked_bundle(settings, archive, kind, provisioning)
    except RegistrationFailed as exc:
        return _Checked(origin, archive, None, str(exc), registration_file)
    return _Checked(origin, archive, bundle, None, registration_file)


def _record(
    context: JobContext,
    source: SyncSource,
    folder: MajorFolder,
    attempt_id: int,
    origin: SyncedFrom,
    checked: _Checked | None,
) -> bool | None:
    """Ends the attempt: no change, a new version (DRAFT or REGISTRATION_FAILED), or a refusal
    that makes no version. All in one transaction, after checking again under the template's
    lock that no other run made this version meanwhile. True when a version was made; None
    (nothing written) when a version is due but ``checked`` was not given."""
    runtime = context.runtime
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        attempt = _attempt(session, attempt_id)
        if template_sync.find_config(session, source.kind, source.template_name) is None:
            _end(
                attempt,
                "The template sync configuration was deleted during the sync; nothing was created.",
                SyncEventType.FAILED,
                now,
                failed=True,
            )
            return False
        try:
            template = find_template(session, source.kind, source.template_name, lock=True)
        except NotFound as exc:
            _end(attempt, exc.message, SyncEventType.FAILED, now, failed=True)
            return False
        last = template_sync.last_synced_version(session, template.id, folder.major)
        if last is not None and template_sync.is_unchanged(last, origin.digest):
            _no_change(attempt, folder, last, now)
            return False
        if checked is None:
            return None
        try:
            version = _new_version(
                session,
                source.kind,
                template,
                folder,
                checked,
                now,
                runtime.settings.max_versions_per_template,
            )
        except (InvalidInput, QuotaExceeded) as exc:
            _end(attempt, exc.message, SyncEventType.FAILED, now, failed=True)
            refused = _change(source, (template_arn(runtime.arns, template),), exc)
            _audit(context, session, refused, now)
            return False
        arns = runtime.arns
        inherit_tags(session, template_arn(arns, template), version_arn(arns, template, version))
        # A version whose registration failed was made all the same, as Proton's would be.
        _audit(context, session, _change(source, (version_arn(arns, template, version),)), now)
        number = f"{version.major}.{version.minor}"
        sha = origin.revision.sha
        if version.status == TemplateVersionStatus.DRAFT:
            _end(
                attempt,
                f"Version {number} created (DRAFT) from {sha}",
                SyncEventType.VERSION_CREATED,
                now,
                external_id=sha,
            )
        else:
            _end(
                attempt,
                f"Version {number} created from {sha} failed registration "
                f"(REGISTRATION_FAILED): {version.status_message}",
                SyncEventType.REGISTRATION_FAILED,
                now,
                external_id=sha,
                failed=True,
            )
        log.info("synced %s %s %s from %s", source.kind.label, source.template_name, number, sha)
        return True


def _change(
    source: SyncSource, resources: tuple[str, ...], refusal: DomainError | None = None
) -> SystemChange:
    """The audit record of a synced version: the operation that makes one by hand."""
    noun = "Environment" if source.kind is TemplateKind.ENVIRONMENT else "Service"
    return SystemChange(
        operation=f"Create{noun}TemplateVersion",
        resources=resources,
        result=AuditResult.SUCCEEDED if refusal is None else AuditResult.FAILED,
        door=AuditDoor.GIT,
        error_code=None if refusal is None else error_code(refusal),
        service=PROTON,
    )


def _audit(context: JobContext, session: Session, change: SystemChange, now: datetime) -> None:
    region = context.runtime.settings.region
    record_system_change(session, change, region=region, job_id=context.job_id, now=now)


def _new_version(
    session: Session,
    kind: TemplateKind,
    template: Template,
    folder: MajorFolder,
    checked: _Checked,
    now: datetime,
    max_versions: int,
) -> TemplateVersion:
    """The version row, with its registration's outcome; raises InvalidInput for what
    CreateTemplateVersion would refuse before making a version (compatible environments)."""
    bundle, message = checked.bundle, checked.failure
    status = TemplateVersionStatus.REGISTRATION_FAILED
    compatible: list[dict[str, Any]] | None = None
    sources: list[str] | None = None
    if bundle is not None:
        if kind is TemplateKind.SERVICE:
            compatible = _compatible(session, folder, bundle, checked.registration_file)
            sources = bundle.supported_component_sources
        try:
            siblings = sibling_schemas(session, template.id, folder.major)
            check_compatibility(bundle, siblings, folder.major)
            status = TemplateVersionStatus.DRAFT
            message = "; ".join(bundle.warnings) or None
        except RegistrationFailed as exc:
            message = str(exc)
    elif kind is TemplateKind.SERVICE:
        compatible = []  # unknown: the bundle that would name them did not load
    check_version_quota(session, kind, template, max_versions)
    major, minor = template_sync.next_number(session, template.id, folder.major)
    draft = status == TemplateVersionStatus.DRAFT
    version = TemplateVersion(
        template_id=template.id,
        major=major,
        minor=minor,
        status=status,
        status_message=message,
        description=template_sync.description(checked.origin),
        source=checked.origin.source(),
        schema_text=bundle.schema.raw_text if draft and bundle else None,
        bundle=checked.archive if draft else None,
        bundle_digest=bundle.digest if draft and bundle else None,
        compatible_environment_templates=compatible,
        supported_component_sources=sources,
        created_at=now,
        last_modified_at=now,
    )
    session.add(version)
    session.flush()
    return version


def _compatible(
    session: Session, folder: MajorFolder, bundle: Bundle, registration_file: str
) -> list[dict[str, Any]]:
    if bundle.compatible_environments is None:
        raise InvalidInput(
            f"{folder.path}: a service template's major version folder needs "
            f"{REGISTRATION_FILE} (or the legacy {LEGACY_FILE}) naming its compatible "
            "environments (compatible_environments: [name:major, ...])."
        )
    entries = [
        {"templateName": name, "majorVersion": major}
        for name, major in bundle.compatible_environments
    ]
    try:
        return check_compatible_environments(session, entries)
    except InvalidInput as exc:
        raise InvalidInput(f"{folder.path}/{registration_file}: {exc.message}") from exc


def _no_change(
    attempt: SyncAttemptRow, folder: MajorFolder, last: TemplateVersion, now: datetime
) -> None:
    number = f"{last.major}.{last.minor}"
    origin = template_sync.synced_from(last)
    commit = f" (commit {origin.revision.sha})" if origin else ""
    text = f"No change in v{folder.major} since version {number}{commit}"
    if last.status == TemplateVersionStatus.REGISTRATION_FAILED:
        _end(
            attempt,
            f"{text}, whose registration failed: {last.status_message}",
            SyncEventType.NO_CHANGE,
            now,
            failed=True,
        )
    else:
        _end(attempt, text, SyncEventType.NO_CHANGE, now)


def _end(
    attempt: SyncAttemptRow,
    text: str,
    event_type: SyncEventType,
    now: datetime,
    *,
    external_id: str | None = None,
    failed: bool = False,
) -> None:
    status = ResourceSyncStatus.FAILED if failed else ResourceSyncStatus.SUCCEEDED
    sync_attempts.add_event(attempt, text, event_type, now, external_id=external_id, status=status)


def _fail(context: JobContext, attempt_id: int, reason: str) -> None:
    with context.runtime.db.session(write=True) as session:
        _end(
            _attempt(session, attempt_id),
            reason,
            SyncEventType.FAILED,
            datetime.now(UTC),
            failed=True,
        )


def _attempt(session: Session, attempt_id: int) -> SyncAttemptRow:
    return session.get_one(SyncAttemptRow, attempt_id)


def _wake_service_syncs(context: JobContext, source: SyncSource) -> None:
    """An environment version made now may be what a failed service template sync of the same
    repository lacked (both may arrive in one commit): sync those again."""
    now = datetime.now(UTC)
    with context.runtime.db.session(write=True) as session:
        for name in template_sync.failed_service_syncs(
            session, source.repository_provider, source.repository_name
        ):
            jobs.enqueue_once(
                session,
                JobKind.TEMPLATE_SYNC,
                template_sync.sync_payload(TemplateKind.SERVICE, name),
                now,
            )
    context.runtime.job_wakeup.set()


register_job(JobKind.TEMPLATE_SYNC, run, give_up)
