"""The IMPORT job: read the export and the account, plan, and (APPLY) apply item by item.

The API recorded the import and stored nothing else (ARCHITECTURE rule 3); here the worker
fetches the packed export from the bundle bucket, reads it (importing/), reads the account's
Proton stacks, puts every bundle through registration's checks, recovers the bundles the export
lacks from the stacks that run them, and hands all of it to the domain, which plans and
applies (domain/imports.py).

Every run reads everything again, so a run that takes over a dead one's job needs nothing the
dead one held. The plan is stored once (the first run); applying takes the items still
pending, each in the transaction that marks it, so nothing is applied twice.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from baryon.bundles.archive import extract_archive
from baryon.bundles.errors import BundleError
from baryon.bundles.pack import pack_files
from baryon.bundles.schema import parse_schema
from baryon.bundles.tree import read_tree
from baryon.cloud.clients import cloud_client
from baryon.domain import imports, specs
from baryon.domain.audit_changes import (
    APPLY_IMPORT,
    IMPORT_FAILED,
    SystemChange,
    record_system_change,
)
from baryon.domain.errors import DomainError, InvalidInput
from baryon.domain.imports import BundleAccess, CheckedBundle, ImportReading
from baryon.domain.templates import TemplateKind
from baryon.engine.handlers import JobContext, LeaseLost, TransientError, register_job
from baryon.engine.registration import RegistrationFailed, checked_bundle
from baryon.git.access import RepositoryFinder
from baryon.git.errors import GitAuthRefused, GitError, GitLimitExceeded, GitNotFound
from baryon.importing.account_export import AccountReading, account_export
from baryon.importing.deployment_metadata import RepositoryReading, metadata_paths, read_folders
from baryon.importing.errors import ExportError, StackReadError
from baryon.importing.export_bundles import bundle_archive, bundle_for
from baryon.importing.export_directory import read_export
from baryon.importing.limits import ExportLimits
from baryon.importing.matching import Matches, exported_resources, match_stacks
from baryon.importing.proton_export import ExportedRepositoryBranch, ProtonExport, VersionKey
from baryon.importing.recovered_bundle import (
    DeployedTemplate,
    escape_jinja,
    inferred_schema,
    recovered_bundle_files,
)
from baryon.importing.stack_roles import role_problems
from baryon.importing.stacks import DiscoveredStack, deployed_template, discover_stacks
from baryon.service_models.baryon import AuditResult, ImportMode, ImportStatus
from baryon.service_models.proton import TemplateType, TemplateVersionStatus
from baryon.settings import Settings
from baryon.store.jobs import JobKind

log = logging.getLogger(__name__)

_REGISTERED = (TemplateVersionStatus.DRAFT, TemplateVersionStatus.PUBLISHED)
# S3 answers that no retry will change.
_MISSING = {"NoSuchBucket", "NoSuchKey", "404", "NotFound", "AccessDenied", "403"}
_SHOWN_WARNINGS = 200
# Git failures no retry mends: the plan says them, and skips what needs the repository.
_PERMANENT_GIT = (GitNotFound, GitAuthRefused, GitLimitExceeded)


def run(context: JobContext, payload: dict[str, Any]) -> None:
    import_id = payload["import_id"]
    runtime = context.runtime
    with runtime.db.session() as session:
        row = imports.find_import(session, import_id)
        if row.status not in imports.UNFINISHED:
            return
        mode = ImportMode(row.mode)
        source = imports.export_source(row)
        include = row.include_account_stacks
    try:
        reading = read(runtime.settings, source, include, runtime.git_access)
    except ExportError as exc:
        _finish(context, import_id, ImportStatus.FAILED, f"The export cannot be read: {exc}")
        return
    except StackReadError as exc:
        raise TransientError(str(exc)) from exc
    decisions = _plan(context, import_id, mode, reading)
    if decisions is None:
        return
    _apply(context, import_id, decisions)


def give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    _finish(
        context,
        payload["import_id"],
        ImportStatus.FAILED,
        f"The import stopped after {context.attempt} attempts: {error}",
    )


# --- reading ---------------------------------------------------------------------------------


def read(
    settings: Settings,
    source: tuple[str, str] | None,
    include_account_stacks: bool,
    git: RepositoryFinder | None = None,
) -> ImportReading:
    """Everything an import is planned from: the export at s3://bucket/key (``source``; None
    for an import from the account alone), the account and the provisioning repositories of
    self-managed environments (through ``git``).

    With ``include_account_stacks``, the stacks no exported resource claims are read for the
    resources their tags name (importing/account_export.py): the export wins, the account
    fills its gaps."""
    limits = ExportLimits(bundle=settings.bundle_limits)
    files: dict[str, bytes] = {}
    exported: ProtonExport | None = None
    if source is not None:
        files = _export_files(settings, *source, limits)
        exported = read_export(files, limits)
    elif not include_account_stacks:
        raise ExportError("an import without an export reads the account (includeAccountStacks)")
    cloudformation = cloud_client(settings, "cloudformation")
    stacks = discover_stacks(cloudformation, limits)
    unclaimed: Sequence[DiscoveredStack] = stacks
    if exported is not None:
        unclaimed = match_stacks(exported_resources(exported), stacks).unclaimed
    account = AccountReading(exported or account_export((), None).export)
    if include_account_stacks:
        account = account_export(unclaimed, exported)
    export = account.export
    matches = match_stacks(exported_resources(export), stacks)
    provisioning = {(t.kind, t.name): t.provisioning for t in export.templates}
    bundles = _own_bundles(settings, export, files, limits, provisioning)
    recovered = _recovered_bundles(
        settings, cloudformation, export, matches, set(bundles), limits, provisioning
    )
    return ImportReading(
        export=export,
        matches=matches,
        bundles=bundles,
        recovered=recovered,
        component_templates=_component_templates(cloudformation, export, matches, limits),
        include_account_stacks=include_account_stacks,
        repositories=_provisioning_repositories(git, export),
        stack_roles=role_problems(
            cloud_client(settings, "iam"),
            [m.stack for m in matches.by_arn.values() if m.stack is not None],
        ),
        account_notes=account.notes,
        unreadable_stacks=account.unreadable,
        has_export=exported is not None,
    )


def _provisioning_repositories(
    git: RepositoryFinder | None, export: ProtonExport
) -> dict[ExportedRepositoryBranch, RepositoryReading]:
    """Each self-managed environment's provisioning repository at its branch, with Proton's
    metadata files in it; a repository that cannot be read says why (its resources are
    skipped), and a failure that a retry may mend makes the job retry."""
    wanted = {e.provisioning_repository for e in export.environments if e.provisioning_repository}
    found: dict[ExportedRepositoryBranch, RepositoryReading] = {}
    for repository in sorted(wanted, key=str):
        if git is None:
            found[repository] = RepositoryReading(None, None, "this process reaches no repository")
            continue
        try:
            access = git.repository(repository.provider, repository.name)
        except DomainError as exc:
            found[repository] = RepositoryReading(
                None,
                None,
                f"{repository} is not registered in Baryon ({exc.message}): register it with "
                f"`aws proton create-repository --provider {repository.provider} --name "
                f"{repository.name} --connection-arn <a Baryon connection>` and import again",
            )
            continue
        try:
            commit = access.remote.branch_head(repository.branch)
            if commit is None:
                found[repository] = RepositoryReading(
                    None, None, f"{repository}: the branch does not exist"
                )
                continue
            files = access.remote.files_at(commit)
        except _PERMANENT_GIT as exc:
            found[repository] = RepositoryReading(None, None, f"reading {repository}: {exc}")
            continue
        except GitError as exc:
            raise TransientError(f"reading {repository} failed: {exc}") from exc
        metadata = {path: files[path] for path in metadata_paths(list(files))}
        found[repository] = RepositoryReading(commit, read_folders(metadata))
    return found


def _export_files(
    settings: Settings, bucket: str, key: str, limits: ExportLimits
) -> dict[str, bytes]:
    data = _fetch(settings, bucket, key, limits.max_archive_bytes)
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="import-", dir=settings.work_dir))
    try:
        extract_archive(data, scratch, limits.tree())
        return read_tree(scratch, limits.tree())
    except BundleError as exc:
        raise ExportError(f"the packed export is refused: {exc}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fetch(settings: Settings, bucket: str, key: str, limit: int) -> bytes:
    location = f"s3://{bucket}/{key}"
    s3 = cloud_client(settings, "s3")
    try:
        size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        if size > limit:
            raise ExportError(f"{location} is {size:,} bytes; an export may be at most {limit:,}")
        data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read(limit + 1)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            raise ExportError(f"{location} cannot be read ({code})") from exc
        raise TransientError(f"reading {location} failed: {exc}") from exc
    except BotoCoreError as exc:
        raise TransientError(f"reading {location} failed: {exc}") from exc
    if len(data) > limit:
        raise ExportError(f"{location} is larger than {limit:,} bytes")
    return data


def _own_bundles(
    settings: Settings,
    export: ProtonExport,
    files: Mapping[str, bytes],
    limits: ExportLimits,
    provisioning: Mapping[tuple[TemplateType, str], str | None],
) -> dict[VersionKey, CheckedBundle]:
    checked: dict[VersionKey, CheckedBundle] = {}
    for version in export.versions:
        source = bundle_for(export, version.key)
        if source is None or version.status not in _REGISTERED:
            continue
        try:
            archive = bundle_archive(files, source, limits)
            bundle = checked_bundle(
                settings,
                archive,
                _kind(version.kind),
                provisioning.get((version.kind, version.template_name)),
            )
        except (ExportError, RegistrationFailed) as exc:
            checked[version.key] = CheckedBundle(source.path, None, None, str(exc))
            continue
        checked[version.key] = CheckedBundle(source.path, archive, bundle, None)
    return checked


def _users(
    export: ProtonExport, matches: Matches, key: VersionKey
) -> dict[str, list[tuple[tuple[str, ...], DiscoveredStack, dict[str, Any] | None]]]:
    """Who runs version ``key``, by IaC folder: names, its stack, and its spec's inputs."""
    found: dict[str, list[tuple[tuple[str, ...], DiscoveredStack, dict[str, Any] | None]]] = {}

    def add(folder: str, names: tuple[str, ...], arn: str, inputs: dict[str, Any] | None) -> None:
        match = matches.by_arn.get(arn)
        if match is not None and match.stack is not None and match.stack.adoptable:
            found.setdefault(folder, []).append((names, match.stack, inputs))

    if key.kind == TemplateType.ENVIRONMENT:
        for environment in export.environments:
            if environment.version == key:
                add(
                    "infrastructure",
                    (environment.name,),
                    environment.arn,
                    _environment_inputs(environment.spec),
                )
        return found
    for service in export.services:
        for instance in service.instances:
            if instance.version == key:
                add(
                    "instance_infrastructure",
                    (service.name, instance.name),
                    instance.arn,
                    _instance_inputs(instance.spec or service.spec, instance.name),
                )
        if service.pipeline is not None and service.pipeline.version == key:
            add(
                "pipeline_infrastructure",
                (service.name,),
                service.pipeline.arn,
                _pipeline_inputs(service.pipeline.spec or service.spec),
            )
    return found


def _environment_inputs(spec: str | None) -> dict[str, Any] | None:
    try:
        return specs.read_environment_spec(spec or "proton: EnvironmentSpec\n").values
    except InvalidInput:
        return None


def _instance_inputs(spec: str, name: str) -> dict[str, Any] | None:
    try:
        return specs.parse_service_spec(spec).instance(name).spec
    except InvalidInput:
        return None


def _pipeline_inputs(spec: str) -> dict[str, Any] | None:
    try:
        return specs.parse_service_spec(spec).pipeline
    except InvalidInput:
        return None


def _recovered_bundles(
    settings: Settings,
    cloudformation: Any,
    export: ProtonExport,
    matches: Matches,
    own: set[VersionKey],
    limits: ExportLimits,
    provisioning: Mapping[tuple[TemplateType, str], str | None],
) -> dict[VersionKey, CheckedBundle]:
    """A bundle for each registered version the export has none of, from the templates the
    stacks of its resources run."""
    recovered: dict[VersionKey, CheckedBundle] = {}
    for version in export.versions:
        if version.key in own or version.status not in _REGISTERED:
            continue
        users = _users(export, matches, version.key)
        if not users:
            continue
        stacks = [stack.name for folder in users.values() for _, stack, _ in folder]
        origin = ("stack " if len(stacks) == 1 else "stacks ") + ", ".join(stacks)
        try:
            archive = _recovered_archive(cloudformation, version.key, version.schema, users, limits)
            bundle = checked_bundle(
                settings,
                archive,
                _kind(version.kind),
                provisioning.get((version.kind, version.template_name)),
            )
        except (StackReadError, RegistrationFailed, BundleError, ValueError) as exc:
            recovered[version.key] = CheckedBundle(origin, None, None, str(exc), tuple(stacks))
            continue
        recovered[version.key] = CheckedBundle(origin, archive, bundle, None, tuple(stacks))
    return recovered


def _recovered_archive(
    cloudformation: Any,
    key: VersionKey,
    schema: str | None,
    users: Mapping[str, Sequence[tuple[tuple[str, ...], DiscoveredStack, dict[str, Any] | None]]],
    limits: ExportLimits,
) -> bytes:
    schema_text = schema or inferred_schema(
        {folder: [inputs or {} for _, _, inputs in entries] for folder, entries in users.items()}
    )
    sections: dict[str, list[DeployedTemplate]] = {
        folder: [
            DeployedTemplate(names, stack.name, deployed_template(cloudformation, stack, limits))
            for names, stack, _ in entries
        ]
        for folder, entries in users.items()
    }
    if key.kind == TemplateType.SERVICE:
        sections.setdefault("instance_infrastructure", [])
        if parse_schema(schema_text).pipeline_input_type is not None:
            sections.setdefault("pipeline_infrastructure", [])
    note = (
        f"{key} was recovered by baryon import from the stacks of the resources that ran it; "
        "it deploys those resources only. Deploy others from a real version."
    )
    return pack_files(recovered_bundle_files(key.kind, schema_text, sections, note), limits.bundle)


def _component_templates(
    cloudformation: Any, export: ProtonExport, matches: Matches, limits: ExportLimits
) -> dict[str, str | Exception]:
    """The IaC of components whose export lacks it, from their stacks, escaped."""
    found: dict[str, str | Exception] = {}
    for component in export.components:
        match = matches.by_arn.get(component.arn)
        if component.template_file is not None or match is None or match.stack is None:
            continue
        try:
            found[component.name] = escape_jinja(
                deployed_template(cloudformation, match.stack, limits)
            )
        except StackReadError as exc:
            found[component.name] = exc
    return found


def _kind(kind: TemplateType) -> TemplateKind:
    return TemplateKind.ENVIRONMENT if kind == TemplateType.ENVIRONMENT else TemplateKind.SERVICE


# --- planning and applying ------------------------------------------------------------------------


def _plan(
    context: JobContext, import_id: str, mode: ImportMode, reading: ImportReading
) -> list[imports.Decision] | None:
    """The plan made afresh; stored if this is the import's first run. None when there is
    nothing to apply (a plan only, or the import finished meanwhile)."""
    runtime = context.runtime
    now = datetime.now(UTC)
    access = BundleAccess(runtime.settings.bundle_limits, runtime.settings.work_dir)
    with runtime.db.session(write=True) as session:
        row = imports.find_import(session, import_id, lock=True)
        if row.status not in imports.UNFINISHED:
            return None
        decisions = imports.plan(session, runtime.arns, reading, access)
        if row.status == ImportStatus.PLANNING:
            imports.store_plan(session, row, decisions, now)
            row.warnings = list(reading.export.warnings[:_SHOWN_WARNINGS])
            if len(reading.export.warnings) > _SHOWN_WARNINGS:
                row.warnings.append(
                    f"... and {len(reading.export.warnings) - _SHOWN_WARNINGS} more warnings"
                )
            if mode == ImportMode.PLAN:
                imports.finish(row, ImportStatus.PLANNED, None, now)
                return None
            row.status = ImportStatus.APPLYING
            row.last_modified_at = now
    return decisions


def _apply(context: JobContext, import_id: str, decisions: list[imports.Decision]) -> None:
    runtime = context.runtime
    by_identity = dict(imports.iter_decisions(decisions))
    with runtime.db.session() as session:
        pending = imports.pending_items(session, import_id)
    pause = runtime.settings.import_item_pause_seconds
    for item_id in pending:
        if context.lease_lost.is_set():
            raise LeaseLost()
        with runtime.db.session(write=True) as session:
            imports.apply_item(session, runtime.arns, item_id, by_identity, datetime.now(UTC))
        if pause:
            time.sleep(pause)
    with runtime.db.session() as session:
        failed = imports.counts(session, [import_id])[import_id].failed
    if failed:
        message = f"{failed} item(s) failed to apply; their messages say why."
        _finish(context, import_id, ImportStatus.FAILED, message)
    else:
        _finish(context, import_id, ImportStatus.SUCCEEDED, None)
    log.info("import %s applied (%d failed)", import_id, failed)


def _finish(context: JobContext, import_id: str, status: ImportStatus, message: str | None) -> None:
    runtime = context.runtime
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        row = imports.find_import(session, import_id, lock=True)
        if row.status in imports.UNFINISHED:
            imports.finish(row, status, message, now)
            # One record for the import (ListImportItems lists what each item changed).
            failed = status != ImportStatus.SUCCEEDED
            change = SystemChange(
                operation=APPLY_IMPORT,
                resources=(runtime.arns.make(f"import/{import_id}"),),
                result=AuditResult.FAILED if failed else AuditResult.SUCCEEDED,
                error_code=IMPORT_FAILED if failed else None,
            )
            record_system_change(
                session, change, region=runtime.settings.region, job_id=context.job_id, now=now
            )


register_job(JobKind.IMPORT, run, give_up)
