"""Imports from AWS Proton: the import records, the plan, and applying it item by item.

The worker reads the export and the account (engine/imports.py, with the pure readers of
importing/) and hands the reading here. ``plan`` decides, for every template, version and
resource of the export, one of:

- CREATE it in Baryon as Proton had it (and ADOPT its stack: the resource keeps the stack
  Proton made, domain/adoption.py, and its next deployment updates that stack);
- RECOVER a version whose bundle is lost, from the templates its resources' stacks run;
- MATCH: it is in Baryon already, from an earlier import (nothing to do);
- SKIP, with the reason (no stack found, a spec the version's schema refuses, a name Baryon
  already uses for something else, what it depends on skipped...).

Nothing is deployed: a resource is created as deployed, at its exported template version, spec
and outputs, with a succeeded deployment record that says it was imported. Each item applies in
the one transaction that marks it applied, and applying finds what an earlier run did (MATCH),
so an import run twice changes nothing and an interrupted one resumes.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baryon.bundles.compat import minor_version_problems
from baryon.bundles.limits import BundleLimits
from baryon.bundles.loader import Bundle, IacSection
from baryon.bundles.schema import TemplateSchema
from baryon.domain import adoption, deployments, specs, versions
from baryon.domain.arns import Arns
from baryon.domain.deployments import DeploymentOperation, Provisioned, Target
from baryon.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from baryon.domain.plan import ComponentPlan, DeploymentPlan, TemplatePlan, plan_to_json
from baryon.domain.tags import inherit_tags, set_tags
from baryon.domain.template_versions import version_arn
from baryon.domain.templates import TemplateKind, find_template, template_arn
from baryon.importing.deployment_metadata import METADATA_FILE as _METADATA_FILE
from baryon.importing.deployment_metadata import ProvisionedFolder, RepositoryReading
from baryon.importing.matching import Matches, StackMatch
from baryon.importing.proton_export import (
    Deployed,
    ExportedComponent,
    ExportedEnvironment,
    ExportedInstance,
    ExportedPipeline,
    ExportedRepositoryBranch,
    ExportedService,
    ExportedTag,
    ExportedTemplate,
    ExportedVersion,
    ProtonExport,
    VersionKey,
)
from baryon.importing.stacks import DiscoveredStack
from baryon.service_models.baryon import (
    ImportItemAction,
    ImportItemStatus,
    ImportMode,
    ImportResourceType,
    ImportStatus,
)
from baryon.service_models.proton import (
    DeploymentStatus,
    DeploymentTargetResourceType,
    Provisioning,
    ServiceStatus,
    ServiceTemplateSupportedComponentSourceType,
    TemplateType,
    TemplateVersionStatus,
)
from baryon.store.jobs import JobKind, enqueue
from baryon.store.tables import (
    AdoptedStackRow,
    Component,
    Deployment,
    Environment,
    ImportItemRow,
    ImportRow,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
    TemplateVersion,
)

Action = ImportItemAction
Kind = ImportResourceType
UNFINISHED = frozenset({ImportStatus.PLANNING, ImportStatus.APPLYING})
# Template versions Proton had registered; the others never held a usable bundle.
_REGISTERED = frozenset({TemplateVersionStatus.DRAFT, TemplateVersionStatus.PUBLISHED})
_BEING_DELETED = frozenset(
    {
        DeploymentStatus.DELETE_IN_PROGRESS,
        DeploymentStatus.DELETE_FAILED,
        DeploymentStatus.DELETE_COMPLETE,
    }
)
_CHANGING = frozenset({DeploymentStatus.IN_PROGRESS, DeploymentStatus.CANCELLING})
_SERVICE_CHANGING = frozenset(
    {
        ServiceStatus.CREATE_IN_PROGRESS,
        ServiceStatus.UPDATE_IN_PROGRESS,
        ServiceStatus.DELETE_IN_PROGRESS,
        ServiceStatus.DELETE_FAILED,
        ServiceStatus.CREATE_FAILED_CLEANUP_IN_PROGRESS,
        ServiceStatus.UPDATE_FAILED_CLEANUP_IN_PROGRESS,
    }
)
_CLOUDFORMATION = "jinja"  # a manifest's rendering engine for CloudFormation
_TERRAFORM = "Terraform"  # what _engine calls hcl: self-managed resources run it
_CODEBUILD = "CodeBuild"  # what _engine calls codebuild
# Plan items that go with the CREATE item before them and apply with it.
_FOLLOWERS = frozenset({ImportItemAction.ADOPT, ImportItemAction.LINK})
_TO_APPLY = frozenset({ImportItemAction.CREATE, ImportItemAction.RECOVER}) | _FOLLOWERS
_COMPONENT_MANIFEST = """\
infrastructure:
  templates:
    - file: "cloudformation.yaml"
      rendering_engine: jinja
      template_language: cloudformation
"""
_DESCRIPTION_MAX = 500
_SHOWN_STACKS = 3


# --- import records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportCounts:
    total: int
    pending: int
    applied: int
    failed: int


def start_import(
    session: Session,
    *,
    source: tuple[str, str] | None,
    mode: ImportMode,
    include_account_stacks: bool,
    now: datetime,
) -> tuple[ImportRow, bool]:
    """Records an import and enqueues its job; returns (import, started). Applying a source
    whose APPLY import is unfinished returns that import (it resumes); while another source is
    being applied, a second APPLY waits its turn (Conflict). ``source`` is the packed export's
    (bucket, key), None for an import from the account alone."""
    bucket, key = source if source is not None else (None, None)
    if mode == ImportMode.APPLY:
        running = session.scalars(
            select(ImportRow)
            .where(ImportRow.mode == ImportMode.APPLY, ImportRow.status.in_(UNFINISHED))
            .order_by(ImportRow.created_at)
            .with_for_update()
        ).all()
        for row in running:
            if (row.source_bucket, row.source_key) == (bucket, key):
                return row, False
        if running:
            raise Conflict(
                f"Import {running[0].id} is still being applied; wait for it to finish before "
                "applying another export."
            )
    row = ImportRow(
        id=str(uuid.uuid4()),
        mode=mode,
        status=ImportStatus.PLANNING,
        source_bucket=bucket,
        source_key=key,
        include_account_stacks=include_account_stacks,
        warnings=[],
        created_at=now,
        last_modified_at=now,
    )
    session.add(row)
    session.flush()
    enqueue(session, JobKind.IMPORT, {"import_id": row.id}, now)
    return row, True


def export_source(row: ImportRow) -> tuple[str, str] | None:
    """Where the import's packed export is (bucket, key); None: it reads the account alone."""
    if row.source_bucket is None or row.source_key is None:
        return None
    return row.source_bucket, row.source_key


def find_import(session: Session, import_id: str, *, lock: bool = False) -> ImportRow:
    stmt = select(ImportRow).where(ImportRow.id == import_id)
    row = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFound(f"The import '{import_id}' was not found.")
    return row


def counts(session: Session, import_ids: Sequence[str]) -> dict[str, ImportCounts]:
    """How many items each import has, and how many are pending, applied and failed."""
    found: dict[str, dict[str, int]] = {i: {} for i in import_ids}
    if import_ids:
        rows = session.execute(
            select(ImportItemRow.import_id, ImportItemRow.status, func.count())
            .where(ImportItemRow.import_id.in_(list(import_ids)))
            .group_by(ImportItemRow.import_id, ImportItemRow.status)
        )
        for import_id, status, count in rows:
            found[import_id][status] = count
    return {
        import_id: ImportCounts(
            total=sum(by_status.values()),
            pending=by_status.get(ImportItemStatus.PENDING, 0),
            applied=by_status.get(ImportItemStatus.APPLIED, 0),
            failed=by_status.get(ImportItemStatus.FAILED, 0),
        )
        for import_id, by_status in found.items()
    }


def finish(row: ImportRow, status: ImportStatus, message: str | None, now: datetime) -> None:
    row.status = status
    row.status_message = message
    row.last_modified_at = now
    row.completed_at = now if status not in UNFINISHED else None


# --- what the worker read ------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedBundle:
    """A version's bundle after registration's checks (or why it failed them): the export's
    own, or one recovered from deployed stacks."""

    origin: str  # the file in the export, or "stack(s) <names>"
    archive: bytes | None
    bundle: Bundle | None
    failure: str | None
    recovered_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportReading:
    """Everything the plan is made from: the export, the account's stacks and which belongs
    to which resource, the checked bundles, and what was recovered from stacks."""

    export: ProtonExport
    matches: Matches
    bundles: Mapping[VersionKey, CheckedBundle]
    recovered: Mapping[VersionKey, CheckedBundle]
    # Components whose export lacks their IaC: the text recovered from their stack (escaped),
    # or why it could not be.
    component_templates: Mapping[str, str | Exception]
    include_account_stacks: bool
    # Self-managed environments' provisioning repositories, as read at their branch.
    repositories: Mapping[ExportedRepositoryBranch, RepositoryReading] = field(default_factory=dict)
    # Stack id -> why CloudFormation would refuse the stack's next update as its RoleARN.
    stack_roles: Mapping[str, str] = field(default_factory=dict)
    # Items read from the account alone (importing/account_export.py), by identity: where
    # from and what could not be known; every such item of the plan says it.
    account_notes: Mapping[tuple[str, str, str | None], str] = field(default_factory=dict)
    # Unclaimed stacks the account alone cannot give to a resource: stack id -> why.
    unreadable_stacks: Mapping[str, str] = field(default_factory=dict)
    has_export: bool = True


@dataclass(frozen=True)
class BundleAccess:
    """What reading a stored version's bundle needs (the domain loads it, cached)."""

    limits: BundleLimits
    workdir: Path


# --- decisions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Link:
    """A self-managed resource's folder in its provisioning repository."""

    repository: ExportedRepositoryBranch
    commit: str
    folder: ProvisionedFolder

    def describe(self) -> str:
        return f"{self.folder.file} in {self.repository} at {self.commit[:12]}"


@dataclass(frozen=True)
class _Resource:
    """What creating a deployed resource needs besides its own row: the stack it adopts, or
    (self-managed) the repository folder it is linked to."""

    arn: str
    stack: DiscoveredStack | None
    deployed: Deployed
    outputs: dict[str, str]
    provisioned: tuple[Provisioned, ...]
    link: _Link | None = None


@dataclass(frozen=True)
class Decision:
    """One item of the plan, and what applying it takes."""

    action: ImportItemAction
    resource_type: ImportResourceType
    name: str
    template_version: str | None = None
    stack: DiscoveredStack | None = None
    detail: str | None = None
    # What applying it writes (CREATE and RECOVER), one of the _*Write types below.
    write: Any = None

    @property
    def identity(self) -> tuple[str, str, str | None]:
        return (self.resource_type, self.name, self.template_version)


@dataclass(frozen=True)
class _TemplateWrite:
    template: ExportedTemplate


@dataclass(frozen=True)
class _VersionWrite:
    version: ExportedVersion
    checked: CheckedBundle
    compatible: list[dict[str, str]] | None
    description: str | None


@dataclass(frozen=True)
class _EnvironmentWrite:
    environment: ExportedEnvironment
    spec: str | None
    inputs: dict[str, Any]
    resource: _Resource


@dataclass(frozen=True)
class _ServiceWrite:
    service: ExportedService
    spec: str
    template_major: int


@dataclass(frozen=True)
class _InstanceWrite:
    instance: ExportedInstance
    spec: str | None
    inputs: dict[str, Any]
    resource: _Resource


@dataclass(frozen=True)
class _PipelineWrite:
    pipeline: ExportedPipeline
    spec: str | None
    inputs: dict[str, Any]
    resource: _Resource


@dataclass(frozen=True)
class _ComponentWrite:
    component: ExportedComponent
    template_file: str
    plan: ComponentPlan
    resource: _Resource


@dataclass(frozen=True)
class _VersionView:
    """A template version as resources see it: in Baryon already, or to be made."""

    key: VersionKey
    schema: TemplateSchema
    bundle: Bundle | None
    compatible: list[dict[str, str]]
    component_sources: list[str]
    customer_managed: bool


@dataclass(frozen=True)
class _EnvironmentView:
    template_name: str
    major: int
    deployed: bool
    # Self-managed: where it and its service instances are provisioned by pull request.
    repository: ExportedRepositoryBranch | None = None


class _Unavailable(str):
    """Why something a resource depends on will not be in Baryon."""


def plan(
    session: Session,
    arns: Arns,
    reading: ImportReading,
    access: BundleAccess,
) -> list[Decision]:
    """The plan: one decision per item, in the order they apply."""
    decisions = _Planner(session, arns, reading, access).decide()
    notes = reading.account_notes
    return [
        replace(d, detail=f"{notes[d.identity]}; {d.detail}" if d.detail else notes[d.identity])
        if d.identity in notes
        else d
        for d in decisions
    ]


@dataclass
class _Planner:
    session: Session
    arns: Arns
    reading: ImportReading
    access: BundleAccess
    templates: dict[tuple[TemplateType, str], Template | str | None] = field(default_factory=dict)
    versions: dict[VersionKey, _VersionView | _Unavailable] = field(default_factory=dict)
    environments: dict[str, _EnvironmentView | _Unavailable] = field(default_factory=dict)
    services: dict[str, bool | _Unavailable] = field(default_factory=dict)
    # Service instances that will be in Baryon, with their version (components attach).
    instances: dict[tuple[str, str], VersionKey] = field(default_factory=dict)

    @property
    def export(self) -> ProtonExport:
        return self.reading.export

    def decide(self) -> list[Decision]:
        decisions: list[Decision] = []
        for template in self.export.templates:
            decisions.append(self._template(template))
        known = {(t.kind, t.name) for t in self.export.templates}
        for version in self.export.versions:
            if (version.kind, version.template_name) not in known:
                self._existing_template(version.kind, version.template_name)
            decisions.append(self._version(version))
        for environment in self.export.environments:
            decisions += self._environment(environment)
        for service in self.export.services:
            decisions += self._service(service)
            for instance in service.instances:
                decisions += self._instance(service, instance)
            if service.pipeline is not None:
                decisions += self._pipeline(service, service.pipeline)
        for component in self.export.components:
            decisions += self._component(component)
        if self.reading.include_account_stacks:
            decisions += [
                _unclaimed(
                    stack,
                    self.reading.unreadable_stacks.get(stack.stack_id),
                    self.reading.has_export,
                )
                for stack in self.reading.matches.unclaimed
            ]
        return decisions

    # --- templates and versions ----------------------------------------------------------

    def _existing_template(self, kind: TemplateType, name: str) -> None:
        self.templates[(kind, name)] = self.session.scalars(
            select(Template).where(Template.kind == kind, Template.name == name)
        ).first() or _Unavailable(f"the {_word(kind)} template '{name}' is not in the export")

    def _template(self, template: ExportedTemplate) -> Decision:
        kind = _template_type(template.kind)
        existing = self.session.scalars(
            select(Template).where(Template.kind == template.kind, Template.name == template.name)
        ).first()
        if existing is None:
            self.templates[(template.kind, template.name)] = None
            return Decision(Action.CREATE, kind, template.name, write=_TemplateWrite(template))
        if existing.provisioning != template.provisioning:
            reason = (
                f"Baryon has a {_word(template.kind)} template '{template.name}' with other "
                f"provisioning ({existing.provisioning or 'AWS-managed'}, not "
                f"{template.provisioning or 'AWS-managed'})"
            )
            self.templates[(template.kind, template.name)] = _Unavailable(reason)
            return Decision(Action.SKIP, kind, template.name, detail=reason)
        self.templates[(template.kind, template.name)] = existing
        return Decision(Action.MATCH, kind, template.name, detail="already in Baryon")

    def _version(self, version: ExportedVersion) -> Decision:
        kind = _version_type(version.kind)
        key = version.key

        def skip(reason: str) -> Decision:
            self.versions[key] = _Unavailable(f"{key} is not imported: {reason}")
            return Decision(Action.SKIP, kind, version.template_name, version.number, detail=reason)

        template = self.templates.get((version.kind, version.template_name))
        if isinstance(template, str):
            return skip(template)
        existing = self._version_row(key)
        if existing is not None:
            return self._existing_version(version, existing, skip)
        if version.status not in _REGISTERED:
            return skip(f"Proton never registered it ({version.status})")
        own = self.reading.bundles.get(key)
        recovered = self.reading.recovered.get(key)
        checked = own or recovered
        if checked is None:
            return skip(
                "the export has no bundle for it, and no stack of a resource running it to "
                "recover it from"
            )
        if checked.bundle is None:
            if own is not None:
                return skip(f"its bundle ({own.origin}) fails registration: {own.failure}")
            return skip(f"recovering it from {checked.origin} failed: {checked.failure}")
        problem = self._sibling_problem(version, checked.bundle)
        if problem:
            return skip(problem or "no folder")
        compatible = None
        if version.kind == TemplateType.SERVICE:
            compatible, missing = self._compatible(version)
            if missing:
                return skip(missing)
        self.versions[key] = _VersionView(
            key,
            checked.bundle.schema,
            checked.bundle,
            compatible or [],
            list(version.supported_component_sources),
            _customer_managed(template, self.export, version),
        )
        recovered_text = (
            f"recovered from {checked.origin}: the deployed template, not the original bundle"
            if checked.recovered_from
            else None
        )
        write = _VersionWrite(
            version, checked, compatible, _recovered_description(version, checked)
        )
        if checked.recovered_from:
            return Decision(
                Action.RECOVER, kind, version.template_name, version.number,
                detail=recovered_text, write=write,
            )  # fmt: skip
        return Decision(
            Action.CREATE, kind, version.template_name, version.number,
            detail=f"bundle {checked.origin}", write=write,
        )  # fmt: skip

    def _existing_version(
        self, version: ExportedVersion, row: TemplateVersion, skip: Callable[[str], Decision]
    ) -> Decision:
        kind = _version_type(version.kind)
        if row.status not in _REGISTERED:
            return skip(f"Baryon has {version.number} already, {row.status}")
        own = self.reading.bundles.get(version.key)
        recovered = _is_recovered(row)
        if (
            own is not None
            and own.bundle is not None
            and not recovered
            and row.bundle_digest != own.bundle.digest
        ):
            return skip(f"Baryon has {version.number} already, with another bundle")
        template = row.template
        self.versions[version.key] = _VersionView(
            version.key,
            versions.version_schema(row),
            versions.version_bundle(row, template, self.access.limits, self.access.workdir),
            list(row.compatible_environment_templates or []),
            list(row.supported_component_sources or []),
            template.provisioning == Provisioning.CUSTOMER_MANAGED,
        )
        notes = ["already in Baryon"]
        if recovered:
            notes.append("recovered from stacks by an earlier import")
        if row.status != version.status:
            notes.append(f"{row.status} in Baryon, {version.status} in Proton")
        return Decision(
            Action.MATCH, kind, version.template_name, version.number, detail="; ".join(notes)
        )

    def _version_row(self, key: VersionKey) -> TemplateVersion | None:
        return self.session.scalars(
            select(TemplateVersion)
            .join(Template, Template.id == TemplateVersion.template_id)
            .where(
                Template.kind == key.kind,
                Template.name == key.template_name,
                TemplateVersion.major == key.major,
                TemplateVersion.minor == key.minor,
            )
        ).first()

    def _sibling_problem(self, version: ExportedVersion, bundle: Bundle) -> str | None:
        """Registration's rule: a minor version accepts what its siblings accept."""
        siblings = [
            (view.key.number, view.schema)
            for view in self.versions.values()
            if isinstance(view, _VersionView)
            and (view.key.kind, view.key.template_name, view.key.major)
            == (version.kind, version.template_name, version.major)
        ]
        for number, schema in siblings:
            problems = minor_version_problems(schema, bundle.schema)
            if problems:
                return f"its schema is not backward compatible with version {number}: " + "; ".join(
                    problems
                )
        return None

    def _compatible(self, version: ExportedVersion) -> tuple[list[dict[str, str]], str | None]:
        entries: list[dict[str, str]] = []
        for name, major in version.compatible_environment_templates:
            available = any(
                isinstance(view, _VersionView)
                and (view.key.kind, view.key.template_name, view.key.major)
                == (TemplateType.ENVIRONMENT, name, major)
                for view in self.versions.values()
            ) or self._environment_major_in_baryon(name, major)
            if not available:
                return [], (
                    f"its compatible environment template {name}:{major} is not in Baryon "
                    "and not imported"
                )
            entry = {"templateName": name, "majorVersion": str(major)}
            if entry not in entries:
                entries.append(entry)
        return entries, None

    def _environment_major_in_baryon(self, name: str, major: int) -> bool:
        return bool(
            self.session.scalar(
                select(func.count())
                .select_from(TemplateVersion)
                .join(Template, Template.id == TemplateVersion.template_id)
                .where(
                    Template.kind == TemplateType.ENVIRONMENT,
                    Template.name == name,
                    TemplateVersion.major == major,
                    TemplateVersion.status.in_(list(_REGISTERED)),
                )
            )
        )

    def _version_view(self, key: VersionKey) -> _VersionView | _Unavailable:
        if key not in self.versions:
            row = self._version_row(key)
            if row is None or row.status not in _REGISTERED:
                self.versions[key] = _Unavailable(f"{key} is neither in Baryon nor in the export")
            else:
                template = row.template
                self.versions[key] = _VersionView(
                    key,
                    versions.version_schema(row),
                    versions.version_bundle(row, template, self.access.limits, self.access.workdir),
                    list(row.compatible_environment_templates or []),
                    list(row.supported_component_sources or []),
                    template.provisioning == Provisioning.CUSTOMER_MANAGED,
                )
        return self.versions[key]

    # --- deployed resources --------------------------------------------------------------

    def _stack(self, arn: str) -> StackMatch:
        return self.reading.matches.by_arn.get(arn) or StackMatch(None, None, "not found")

    def _existing_resource(
        self,
        kind: ImportResourceType,
        name: str,
        baryon_arn: str,
        exported_arn: str,
        adopted_word: str,
        linked: bool = False,
    ) -> Decision:
        """The resource is in Baryon already: a match when it keeps the stack this export
        would give it (an earlier import made it), else the name is someone else's."""
        kept = adoption.adopted_stack(self.session, baryon_arn)
        if linked and kept is None and _imported_before(self.session, kind, name):
            return Decision(
                Action.MATCH,
                kind,
                name,
                detail="already in Baryon, provisioned by pull request as imported",
            )
        match = self._stack(exported_arn)
        if kept is not None and (match.stack is None or match.stack.stack_id == kept.stack_id):
            return Decision(
                Action.MATCH,
                kind,
                name,
                detail=f"already in Baryon, keeping stack {kept.stack_name}",
            )
        if kept is not None:
            reason = f"Baryon has {adopted_word} '{name}' already, keeping stack {kept.stack_name}"
        else:
            reason = (
                f"the name is used in Baryon by {adopted_word} that Baryon deployed itself, "
                "not one imported from this stack"
            )
        return Decision(Action.SKIP, kind, name, detail=reason)

    def _deployable(self, deployed: Deployed) -> str | None:
        """Why a Proton resource's state cannot be imported, or None."""
        if deployed.status in _BEING_DELETED:
            return f"Proton was deleting it ({deployed.status})"
        if deployed.status in _CHANGING:
            return f"it was deploying when exported ({deployed.status}); export it again"
        if not deployed.last_succeeded_deployment_id:
            return "Proton never deployed it successfully"
        return None

    def _adoptable(
        self, exported_arn: str, baryon_arn: str
    ) -> tuple[DiscoveredStack | None, str | None]:
        match = self._stack(exported_arn)
        if match.stack is None:
            return None, f"its stack: {match.problem}"
        if not match.stack.adoptable:
            return None, f"its stack {match.stack.name} is {match.stack.status}"
        holder = self.session.scalar(
            select(AdoptedStackRow.resource_arn).where(
                AdoptedStackRow.stack_id == match.stack.stack_id
            )
        )
        if holder is not None and holder != baryon_arn:
            return None, f"its stack {match.stack.name} is kept by {holder} already"
        return match.stack, None

    def _resource(
        self,
        arn: str,
        stack: DiscoveredStack | None,
        deployed: Deployed,
        link: _Link | None = None,
    ) -> _Resource:
        if deployed.outputs is not None:
            outputs = {o.key: o.value for o in deployed.outputs}
        else:
            outputs = dict(stack.outputs) if stack is not None else {}
        if deployed.provisioned_resources is not None:
            provisioned = tuple(
                Provisioned(r.name, r.identifier, r.engine or "CLOUDFORMATION")
                for r in deployed.provisioned_resources
            )
        elif stack is not None:
            provisioned = tuple(
                Provisioned(r.logical_id, r.physical_id, "CLOUDFORMATION") for r in stack.resources
            )
        else:
            provisioned = ()
        return _Resource(arn, stack, deployed, outputs, provisioned, link)

    def _environment(self, environment: ExportedEnvironment) -> list[Decision]:
        name = environment.name
        arn = self.arns.environment(name)

        def skip(reason: str) -> list[Decision]:
            self.environments[name] = _Unavailable(f"environment '{name}' is not imported")
            return [Decision(Action.SKIP, Kind.ENVIRONMENT, name, detail=reason)]

        existing = self.session.scalars(select(Environment).where(Environment.name == name)).first()
        if existing is not None:
            decision = self._existing_resource(
                Kind.ENVIRONMENT,
                name,
                arn,
                environment.arn,
                "an environment",
                linked=existing.provisioning_repository is not None,
            )
            self.environments[name] = (
                _environment_view(existing)
                if decision.action == Action.MATCH
                else _Unavailable(f"environment '{name}' is not imported")
            )
            return [decision]
        reason = self._deployable(environment.deployed)
        if reason:
            return skip(reason)
        if environment.environment_account_connection_id:
            return skip(
                "it deploys through an environment account connection, which Baryon does not "
                "support yet"
            )
        if environment.provisioning_repository is not None:
            return self._self_managed_environment(environment, environment.provisioning_repository)
        if environment.provisioning == Provisioning.CUSTOMER_MANAGED:
            return skip("it is CUSTOMER_MANAGED but names no provisioning repository")
        view = self._version_view(environment.version)
        if isinstance(view, str):
            return skip(view)
        engine = _engine(view.bundle.infrastructure if view.bundle else None)
        if engine == _CODEBUILD:
            if not environment.codebuild_role_arn:
                return skip("it provisions with CodeBuild but has no codebuildRoleArn to run as")
        elif not environment.proton_service_role_arn and (
            (Kind.ENVIRONMENT, name, None) not in self.reading.account_notes
        ):
            # Read from the account alone, it has none to know: its note says so.
            return skip("it has no protonServiceRoleArn to deploy as")
        elif engine != _CLOUDFORMATION:
            return skip(f"{environment.version} provisions with {engine}: not imported yet")
        try:
            document = specs.read_environment_spec(environment.spec or "proton: EnvironmentSpec\n")
            inputs = specs.resolve_inputs(
                view.schema, view.schema.environment_input_type, document.values, where="spec"
            ).values
        except InvalidInput as exc:
            return skip(
                f"its spec no longer validates against {environment.version}: {exc.message}"
            )
        if engine == _CODEBUILD:
            built, problem = self._built(environment.deployed)
            if built is None:
                return skip(problem or "no outputs")
            self.environments[name] = _EnvironmentView(
                environment.template_name, environment.major, True
            )
            resource = self._resource(arn, None, environment.deployed)
            write = _EnvironmentWrite(environment, environment.spec, inputs, resource)
            return _create_and_keep_built(Kind.ENVIRONMENT, name, built, write)
        stack, problem = self._adoptable(environment.arn, arn)
        if stack is None:
            return skip(problem or "no stack")
        self.environments[name] = _EnvironmentView(
            environment.template_name, environment.major, True
        )
        write = _EnvironmentWrite(
            environment, environment.spec, inputs, self._resource(arn, stack, environment.deployed)
        )
        return _create_and_adopt(
            Kind.ENVIRONMENT, name, stack, write, self.reading.stack_roles.get(stack.stack_id)
        )

    def _self_managed_environment(
        self, environment: ExportedEnvironment, repository: ExportedRepositoryBranch
    ) -> list[Decision]:
        """A self-managed environment: Proton proposed its Terraform by pull request, and the
        customer's pipeline applied it; it keeps its folder in the repository (LINK)."""
        name = environment.name
        arn = self.arns.environment(name)

        def skip(reason: str) -> list[Decision]:
            self.environments[name] = _Unavailable(f"environment '{name}' is not imported")
            return [Decision(Action.SKIP, Kind.ENVIRONMENT, name, detail=reason)]

        view = self._version_view(environment.version)
        if isinstance(view, str):
            return skip(view)
        engine = _engine(view.bundle.infrastructure if view.bundle else None)
        if engine != _TERRAFORM:
            return skip(
                f"it is self-managed, and {environment.version} provisions with {engine}, "
                "not Terraform"
            )
        try:
            document = specs.read_environment_spec(environment.spec or "proton: EnvironmentSpec\n")
            inputs = specs.resolve_inputs(
                view.schema, view.schema.environment_input_type, document.values, where="spec"
            ).values
        except InvalidInput as exc:
            return skip(
                f"its spec no longer validates against {environment.version}: {exc.message}"
            )
        link, problem = self._linked(environment.arn, repository)
        if link is None:
            return skip(problem or "no folder")
        self.environments[name] = _EnvironmentView(
            environment.template_name, environment.major, True, repository
        )
        resource = self._resource(arn, None, environment.deployed, link)
        write = _EnvironmentWrite(environment, environment.spec, inputs, resource)
        return _create_and_link(Kind.ENVIRONMENT, name, link, environment.arn, arn, write)

    def _built(self, deployed: Deployed) -> tuple[list[str], None] | tuple[None, str]:
        """A CodeBuild-provisioned resource's outputs (its commands built what they built,
        where Baryon cannot look): the export must hold them."""
        if deployed.outputs is None:
            return None, (
                "it provisions with CodeBuild, and the export holds no outputs for it "
                "(list-*-outputs), which its next deployment and what depends on it need"
            )
        return sorted(o.key for o in deployed.outputs), None

    def _linked(
        self, exported_arn: str, repository: ExportedRepositoryBranch
    ) -> tuple[_Link, None] | tuple[None, str]:
        """The resource's folder in the provisioning repository, or why there is none."""
        reading = self.reading.repositories.get(repository)
        if reading is None or reading.folders is None or reading.commit is None:
            problem = reading.problem if reading is not None else "it was not read"
            return None, f"its provisioning repository: {problem}"
        folder = reading.folders.by_arn.get(exported_arn)
        if folder is None:
            reason = f"no {_METADATA_FILE} in {repository} names {exported_arn}"
            if reading.folders.problems:
                shown = "; ".join(reading.folders.problems[:_SHOWN_STACKS])
                reason += f" (unreadable: {shown})"
            return None, reason
        if folder.deleted:
            return None, (
                f"{folder.file} in {repository} marks it deleted (isResourceDeleted): "
                "its pipeline destroys it"
            )
        return _Link(repository, reading.commit, folder), None

    def _service(self, service: ExportedService) -> list[Decision]:
        name = service.name

        def skip(reason: str) -> list[Decision]:
            self.services[name] = _Unavailable(f"service '{name}' is not imported")
            return [Decision(Action.SKIP, Kind.SERVICE, name, detail=reason)]

        template = self.templates.get((TemplateType.SERVICE, service.template_name))
        if template is None and (TemplateType.SERVICE, service.template_name) not in self.templates:
            self._existing_template(TemplateType.SERVICE, service.template_name)
            template = self.templates[(TemplateType.SERVICE, service.template_name)]
        existing = self.session.scalars(select(Service).where(Service.name == name)).first()
        if existing is not None:
            if existing.template_name == service.template_name and _imported_before(
                self.session, Kind.SERVICE, name
            ):
                self.services[name] = True
                return [Decision(Action.MATCH, Kind.SERVICE, name, detail="already in Baryon")]
            return skip("the name is used in Baryon by a service that was not imported")
        if isinstance(template, str):
            return skip(template)
        if service.status in _SERVICE_CHANGING:
            return skip(f"it was changing when exported ({service.status}); export it again")
        try:
            specs.parse_service_spec(service.spec)
        except InvalidInput as exc:
            return skip(f"its spec does not parse: {exc.message}")
        self.services[name] = True
        majors = [i.major for i in service.instances]
        major = service.pipeline.major if service.pipeline else min(majors, default=1)
        write = _ServiceWrite(service, service.spec, major)
        return [Decision(Action.CREATE, Kind.SERVICE, name, write=write)]

    def _instance(self, service: ExportedService, instance: ExportedInstance) -> list[Decision]:
        name = f"{service.name}/{instance.name}"
        arn = self.arns.service_instance(service.name, instance.name)

        def skip(reason: str) -> list[Decision]:
            return [Decision(Action.SKIP, Kind.SERVICE_INSTANCE, name, detail=reason)]

        existing = self.session.scalars(
            select(ServiceInstance).where(
                ServiceInstance.service_name == service.name,
                ServiceInstance.name == instance.name,
            )
        ).first()
        if existing is not None:
            decision = self._existing_resource(
                Kind.SERVICE_INSTANCE,
                name,
                arn,
                instance.arn,
                "a service instance",
                linked=self.session.scalar(
                    select(Environment.provisioning_repository).where(
                        Environment.id == existing.environment_id
                    )
                )
                is not None,
            )
            if decision.action == Action.MATCH:
                self.instances[(service.name, instance.name)] = VersionKey(
                    TemplateType.SERVICE,
                    existing.template_name,
                    existing.template_major,
                    existing.template_minor,
                )
            return [decision]
        if isinstance(self.services.get(service.name), _Unavailable):
            return skip(f"its service '{service.name}' is not imported")
        reason = self._deployable(instance.deployed)
        if reason:
            return skip(reason)
        environment = self._environment_view(instance.environment_name)
        if isinstance(environment, str):
            return skip(environment)
        if not environment.deployed:
            return skip(f"its environment '{instance.environment_name}' is not deployed")
        view = self._version_view(instance.version)
        if isinstance(view, str):
            return skip(view)
        wanted = {"templateName": environment.template_name, "majorVersion": str(environment.major)}
        if wanted not in view.compatible:
            return skip(
                f"{instance.version} does not support its environment's template "
                f"{environment.template_name}:{environment.major}"
            )
        engine = _engine(view.bundle.instance if view.bundle else None)
        repository = environment.repository
        if repository is not None and engine != _TERRAFORM:
            return skip(
                f"its environment is self-managed, and {instance.version} provisions with "
                f"{engine}, not Terraform"
            )
        if repository is None and engine not in (_CLOUDFORMATION, _CODEBUILD):
            return skip(f"{instance.version} provisions with {engine}: not imported yet")
        try:
            document = specs.parse_service_spec(instance.spec or service.spec)
            entry = document.instance(instance.name)
            inputs = specs.resolve_inputs(
                view.schema,
                view.schema.service_input_type,
                entry.spec,
                where=f"instances[{entry.index}].spec",
            ).values
        except InvalidInput as exc:
            return skip(f"its spec no longer validates against {instance.version}: {exc.message}")
        if entry.environment != instance.environment_name:
            return skip(
                f"its spec puts it in environment '{entry.environment}', Proton in "
                f"'{instance.environment_name}'"
            )
        spec = instance.spec or service.spec
        if repository is not None:
            link, problem = self._linked(instance.arn, repository)
            if link is None:
                return skip(problem or "no folder")
            self.instances[(service.name, instance.name)] = instance.version
            resource = self._resource(arn, None, instance.deployed, link)
            write = _InstanceWrite(instance, spec, inputs, resource)
            return _create_and_link(Kind.SERVICE_INSTANCE, name, link, instance.arn, arn, write)
        if engine == _CODEBUILD:
            built, problem = self._built(instance.deployed)
            if built is None:
                return skip(problem or "no outputs")
            self.instances[(service.name, instance.name)] = instance.version
            resource = self._resource(arn, None, instance.deployed)
            write = _InstanceWrite(instance, spec, inputs, resource)
            return _create_and_keep_built(Kind.SERVICE_INSTANCE, name, built, write)
        stack, problem = self._adoptable(instance.arn, arn)
        if stack is None:
            return skip(problem or "no stack")
        self.instances[(service.name, instance.name)] = instance.version
        write = _InstanceWrite(
            instance,
            spec,
            inputs,
            self._resource(arn, stack, instance.deployed),
        )
        return _create_and_adopt(
            Kind.SERVICE_INSTANCE, name, stack, write, self.reading.stack_roles.get(stack.stack_id)
        )

    def _environment_view(self, name: str) -> _EnvironmentView | _Unavailable:
        if name not in self.environments:
            row = self.session.scalars(select(Environment).where(Environment.name == name)).first()
            self.environments[name] = (
                _Unavailable(f"its environment '{name}' is neither in Baryon nor in the export")
                if row is None
                else _environment_view(row)
            )
        return self.environments[name]

    def _pipeline(self, service: ExportedService, pipeline: ExportedPipeline) -> list[Decision]:
        name = service.name
        arn = self.arns.service_pipeline(name)

        def skip(reason: str) -> list[Decision]:
            return [Decision(Action.SKIP, Kind.SERVICE_PIPELINE, name, detail=reason)]

        existing = self.session.scalars(
            select(ServicePipeline)
            .join(Service, Service.id == ServicePipeline.service_id)
            .where(Service.name == name)
        ).first()
        if existing is not None:
            return [
                self._existing_resource(
                    Kind.SERVICE_PIPELINE, name, arn, pipeline.arn, "a pipeline"
                )
            ]
        if isinstance(self.services.get(name), _Unavailable):
            return skip(f"its service '{name}' is not imported")
        reason = self._deployable(pipeline.deployed)
        if reason:
            return skip(reason)
        view = self._version_view(pipeline.version)
        if isinstance(view, str):
            return skip(view)
        if view.customer_managed or view.schema.pipeline_input_type is None:
            return skip(f"{pipeline.version} provisions no pipeline in Baryon")
        engine = _engine(view.bundle.pipeline if view.bundle else None)
        if engine != _CLOUDFORMATION:
            return skip(f"{pipeline.version} provisions with {engine}: not imported yet")
        try:
            document = specs.parse_service_spec(pipeline.spec or service.spec)
            inputs = specs.resolve_inputs(
                view.schema, view.schema.pipeline_input_type, document.pipeline, where="pipeline"
            ).values
        except InvalidInput as exc:
            return skip(f"its spec no longer validates against {pipeline.version}: {exc.message}")
        stack, problem = self._adoptable(pipeline.arn, arn)
        if stack is None:
            return skip(problem or "no stack")
        spec = pipeline.spec or service.spec
        write = _PipelineWrite(
            pipeline,
            spec,
            inputs,
            self._resource(arn, stack, pipeline.deployed),
        )
        return _create_and_adopt(
            Kind.SERVICE_PIPELINE, name, stack, write, self.reading.stack_roles.get(stack.stack_id)
        )

    def _component(self, component: ExportedComponent) -> list[Decision]:
        name = component.name
        arn = self.arns.component(name)

        def skip(reason: str) -> list[Decision]:
            return [Decision(Action.SKIP, Kind.COMPONENT, name, detail=reason)]

        existing = self.session.scalars(select(Component).where(Component.name == name)).first()
        if existing is not None:
            return [
                self._existing_resource(Kind.COMPONENT, name, arn, component.arn, "a component")
            ]
        reason = self._deployable(component.deployed)
        if reason:
            return skip(reason)
        environment = self._environment_view(component.environment_name)
        if isinstance(environment, str):
            return skip(environment)
        if component.service_name:
            key = self.instances.get(
                (component.service_name, component.service_instance_name or "")
            )
            if key is None:
                return skip(
                    f"its service instance '{component.service_name}/"
                    f"{component.service_instance_name}' is not imported"
                )
            view = self._version_view(key)
            if isinstance(view, str) or (
                ServiceTemplateSupportedComponentSourceType.DIRECTLY_DEFINED
                not in view.component_sources
            ):
                return skip(f"{key} does not support directly defined components")
        stack, problem = self._adoptable(component.arn, arn)
        if stack is None:
            return skip(problem or "no stack")
        detail = None
        template_file = component.template_file
        if template_file is None:
            recovered = self.reading.component_templates.get(name)
            if recovered is None or isinstance(recovered, Exception):
                return skip(
                    "the export holds no deployment with its IaC, and reading its stack's "
                    f"template failed: {recovered or 'not read'}"
                )
            template_file = recovered
            detail = f"its IaC recovered from stack {stack.name}"
        plan = ComponentPlan(
            _COMPONENT_MANIFEST,
            template_file,
            component.service_spec,
            component.service_name,
            component.service_instance_name,
        )
        write = _ComponentWrite(
            component, template_file, plan, self._resource(arn, stack, component.deployed)
        )
        decisions = _create_and_adopt(
            Kind.COMPONENT, name, stack, write, self.reading.stack_roles.get(stack.stack_id)
        )
        return [
            Decision(
                d.action, d.resource_type, d.name, d.template_version, d.stack, detail, d.write
            )
            if d.action == Action.CREATE
            else d
            for d in decisions
        ]


def _create_and_adopt(
    kind: ImportResourceType, name: str, stack: DiscoveredStack, write: Any, role: str | None
) -> list[Decision]:
    detail = f"kept as it is ({stack.status}); the resource's next deployment updates it"
    if role:
        detail += f"; but {role}"
    return [
        Decision(Action.CREATE, kind, name, stack=stack, write=write),
        Decision(
            Action.ADOPT,
            kind,
            name,
            stack=stack,
            detail=detail,
        ),
    ]


def _create_and_keep_built(
    kind: ImportResourceType, name: str, outputs: Sequence[str], write: Any
) -> list[Decision]:
    kept = ", ".join(outputs[:10]) + (f" and {len(outputs) - 10} more" if len(outputs) > 10 else "")
    detail = (
        f"provisioned by CodeBuild: what its commands built is kept as it is, with its "
        f"outputs as exported ({kept or 'none'}); its next deployment runs the bundle's "
        "provision commands again, as an update of what they built"
    )
    return [
        Decision(Action.CREATE, kind, name, write=write),
        Decision(Action.ADOPT, kind, name, detail=detail),
    ]


def _create_and_link(
    kind: ImportResourceType,
    name: str,
    link: _Link,
    exported_arn: str,
    baryon_arn: str,
    write: Any,
) -> list[Decision]:
    detail = (
        f"provisioned by pull request: {link.describe()}; its deployment "
        f"{link.folder.deployment_id} is kept, so the pipeline's "
        "notify-resource-deployment-status-change for it is accepted, and its next deployment "
        "opens a pull request in that repository"
    )
    if exported_arn != baryon_arn:
        detail += (
            f"; but the pipeline reports on {exported_arn}, which Baryon names {baryon_arn}: "
            "run Baryon with Proton's account and region, or its notify is refused"
        )
    return [
        Decision(Action.CREATE, kind, name, write=write),
        Decision(Action.LINK, kind, name, detail=detail),
    ]


def _environment_view(row: Environment) -> _EnvironmentView:
    stored = row.provisioning_repository
    repository = (
        ExportedRepositoryBranch(stored["provider"], stored["name"], stored["branch"])
        if stored
        else None
    )
    return _EnvironmentView(
        row.template_name,
        row.template_major,
        row.last_succeeded_deployment_id is not None,
        repository,
    )


def _unclaimed(stack: DiscoveredStack, unreadable: str | None, has_export: bool) -> Decision:
    tags = ", ".join(f"{k}={v}" for k, v in sorted(stack.proton_tags.items()))
    detail = "no exported Proton resource claims it" if has_export else "no resource claims it"
    if tags:
        detail += f" (tags {tags})"
    if unreadable:
        detail += f"; the account alone cannot tell whose it is: {unreadable}"
    return Decision(Action.SKIP, Kind.STACK, stack.name, stack=stack, detail=detail)


def _imported_before(session: Session, kind: ImportResourceType, name: str) -> bool:
    return (
        session.scalar(
            select(ImportItemRow.id)
            .where(
                ImportItemRow.resource_type == kind,
                ImportItemRow.name == name,
                ImportItemRow.action == Action.CREATE,
                ImportItemRow.status == ImportItemStatus.APPLIED,
            )
            .limit(1)
        )
        is not None
    )


def _engine(section: IacSection | None) -> str:
    if section is None:
        return "no IaC"
    engine = section.manifest.templates[0].rendering_engine
    return {"hcl": "Terraform", "codebuild": "CodeBuild"}.get(engine, engine)


def _template_type(kind: TemplateType) -> ImportResourceType:
    return Kind.ENVIRONMENT_TEMPLATE if kind == TemplateType.ENVIRONMENT else Kind.SERVICE_TEMPLATE


def _version_type(kind: TemplateType) -> ImportResourceType:
    if kind == TemplateType.ENVIRONMENT:
        return Kind.ENVIRONMENT_TEMPLATE_VERSION
    return Kind.SERVICE_TEMPLATE_VERSION


def _word(kind: TemplateType) -> str:
    return "environment" if kind == TemplateType.ENVIRONMENT else "service"


def _customer_managed(
    template: Template | str | None, export: ProtonExport, version: ExportedVersion
) -> bool:
    if isinstance(template, Template):
        return template.provisioning == Provisioning.CUSTOMER_MANAGED
    exported = export.template(version.kind, version.template_name)
    return bool(exported and exported.provisioning == Provisioning.CUSTOMER_MANAGED)


def _is_recovered(row: TemplateVersion) -> bool:
    return "recovered" in (row.source or {}).get("import", {})


def _recovered_description(version: ExportedVersion, checked: CheckedBundle) -> str | None:
    if not checked.recovered_from:
        return version.description
    stacks = list(checked.recovered_from)
    shown = ", ".join(stacks[:_SHOWN_STACKS])
    if len(stacks) > _SHOWN_STACKS:
        shown += f" and {len(stacks) - _SHOWN_STACKS} more"
    word = "stack" if len(stacks) == 1 else "stacks"
    text = (
        f"Recovered from {word} {shown} by baryon import: the deployed template, not the "
        "original bundle; it redeploys those resources only."
    )
    if version.description:
        text += f" Proton's description: {version.description}"
    return text[:_DESCRIPTION_MAX]


# --- storing the plan ----------------------------------------------------------------------------


def store_plan(
    session: Session, row: ImportRow, decisions: Sequence[Decision], now: datetime
) -> None:
    """The plan's items, in order; those with nothing to apply are UNCHANGED at once."""
    for position, decision in enumerate(decisions, start=1):
        session.add(
            ImportItemRow(
                import_id=row.id,
                position=position,
                action=decision.action,
                resource_type=decision.resource_type,
                name=decision.name,
                template_version=decision.template_version,
                stack_name=decision.stack.name if decision.stack else None,
                stack_id=decision.stack.stack_id if decision.stack else None,
                detail=decision.detail,
                status=(
                    ImportItemStatus.PENDING
                    if decision.action in _TO_APPLY
                    else ImportItemStatus.UNCHANGED
                ),
            )
        )
    row.last_modified_at = now


def pending_items(session: Session, import_id: str) -> list[int]:
    """The ids of the items still to apply, in order."""
    return list(
        session.scalars(
            select(ImportItemRow.id)
            .where(
                ImportItemRow.import_id == import_id,
                ImportItemRow.status == ImportItemStatus.PENDING,
            )
            .order_by(ImportItemRow.position)
        )
    )


# --- applying ------------------------------------------------------------------------------------


def apply_item(
    session: Session,
    arns: Arns,
    item_id: int,
    decisions: Mapping[tuple[str, str, str | None], Decision],
    now: datetime,
) -> None:
    """Applies one PENDING item (and the ADOPT item that goes with a resource it creates) in
    ``session``'s transaction, which also marks it; ``decisions`` is the plan made afresh from
    what the worker read in this run. A failure marks the item FAILED instead."""
    item = session.get(ImportItemRow, item_id, with_for_update=True)
    if item is None or item.status != ImportItemStatus.PENDING:
        return  # applied meanwhile by the run that owned the job before
    decision = decisions.get((item.resource_type, item.name, item.template_version))
    adopt = _adopt_item(session, item) if item.action == Action.CREATE else None
    try:
        # A savepoint: a failed item leaves nothing behind, and its failure is still marked.
        with session.begin_nested():
            _apply(session, arns, item, decision, now)
    except (DomainError, IntegrityError, ValueError) as exc:
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        _fail(session, item_id, message, now)
        if adopt is not None:
            _fail(session, adopt.id, f"not adopted: creating the resource failed: {message}", now)
        return
    _mark(item, ImportItemStatus.APPLIED, None, now)
    if adopt is not None:
        _mark(adopt, ImportItemStatus.APPLIED, None, now)


def _adopt_item(session: Session, item: ImportItemRow) -> ImportItemRow | None:
    following = session.scalars(
        select(ImportItemRow).where(
            ImportItemRow.import_id == item.import_id,
            ImportItemRow.position == item.position + 1,
        )
    ).first()
    if (
        following is not None
        and following.action in _FOLLOWERS
        and (following.resource_type, following.name) == (item.resource_type, item.name)
        and following.status == ImportItemStatus.PENDING
    ):
        return following
    return None


def _apply(
    session: Session,
    arns: Arns,
    item: ImportItemRow,
    decision: Decision | None,
    now: datetime,
) -> None:
    if item.action in _FOLLOWERS:
        raise ValueError("applied with the resource it belongs to, which did not apply")
    if decision is None:
        raise ValueError("it is no longer in the export")
    if decision.action == Action.MATCH:
        return  # an earlier run (or someone else) made it already, the same way
    if decision.action != item.action:
        raise ValueError(
            f"what the account or Baryon holds changed since the plan: now "
            f"{decision.action}: {decision.detail}"
        )
    if decision.stack is not None and decision.stack.stack_id != item.stack_id:
        raise ValueError(
            f"its stack changed since the plan: now {decision.stack.name} "
            f"({decision.stack.stack_id})"
        )
    write = decision.write
    if isinstance(write, _TemplateWrite):
        _write_template(session, arns, write, item.import_id, now)
    elif isinstance(write, _VersionWrite):
        _write_version(session, arns, write, item.import_id, now)
    elif isinstance(write, _EnvironmentWrite):
        _write_environment(session, arns, write, item.import_id, now)
    elif isinstance(write, _ServiceWrite):
        _write_service(session, arns, write, item.import_id, now)
    elif isinstance(write, _InstanceWrite):
        _write_instance(session, arns, write, item.import_id, now)
    elif isinstance(write, _PipelineWrite):
        _write_pipeline(session, arns, write, item.import_id, now)
    elif isinstance(write, _ComponentWrite):
        _write_component(session, arns, write, item.import_id, now)
    else:
        raise ValueError(f"nothing to apply for {decision.action}")
    session.flush()


def _mark(
    item: ImportItemRow, status: ImportItemStatus, message: str | None, now: datetime
) -> None:
    item.status = status
    item.message = message
    item.applied_at = now


def _fail(session: Session, item_id: int, message: str, now: datetime) -> None:
    item = session.get(ImportItemRow, item_id)
    if item is not None:
        _mark(item, ImportItemStatus.FAILED, message[:4000], now)


def _customer_tags(tags: Sequence[ExportedTag] | None) -> list[dict[str, str]]:
    """The customer's tags; Proton's own (aws:*) are Proton's to set, and Baryon's now."""
    return [
        {"key": t.key, "value": t.value} for t in tags or () if not t.key.lower().startswith("aws:")
    ]


def _write_template(
    session: Session, arns: Arns, write: _TemplateWrite, import_id: str, now: datetime
) -> None:
    template = write.template
    row = Template(
        kind=template.kind,
        name=template.name,
        display_name=template.display_name,
        description=template.description,
        encryption_key=template.encryption_key,
        provisioning=template.provisioning,
        created_at=template.created_at,
        last_modified_at=now,
    )
    session.add(row)
    session.flush()
    tags = _customer_tags(template.tags)
    if tags:
        set_tags(session, template_arn(arns, row), tags)  # type: ignore[arg-type]


def _write_version(
    session: Session, arns: Arns, write: _VersionWrite, import_id: str, now: datetime
) -> None:
    version, checked = write.version, write.checked
    assert checked.bundle is not None and checked.archive is not None
    template = find_template(session, _kind(version.kind), version.template_name, lock=True)
    source: dict[str, Any] = {"import": {"id": import_id, "file": checked.origin}}
    if checked.recovered_from:
        source = {"import": {"id": import_id, "recovered": list(checked.recovered_from)}}
    row = TemplateVersion(
        template_id=template.id,
        major=version.major,
        minor=version.minor,
        status=version.status,
        status_message="; ".join(checked.bundle.warnings) or None,
        description=write.description,
        source=source,
        schema_text=checked.bundle.schema.raw_text,
        bundle=checked.archive,
        bundle_digest=checked.bundle.digest,
        compatible_environment_templates=write.compatible,
        supported_component_sources=list(version.supported_component_sources) or None,
        created_at=version.created_at,
        last_modified_at=now,
    )
    session.add(row)
    session.flush()
    inherit_tags(session, template_arn(arns, template), version_arn(arns, template, row))


def _version(session: Session, key: VersionKey) -> TemplateVersion:
    row = session.scalars(
        select(TemplateVersion)
        .join(Template, Template.id == TemplateVersion.template_id)
        .where(
            Template.kind == key.kind,
            Template.name == key.template_name,
            TemplateVersion.major == key.major,
            TemplateVersion.minor == key.minor,
        )
    ).first()
    if row is None or row.status not in _REGISTERED:
        raise NotFound(f"{key} is not in Baryon (its item did not apply)")
    return row


def _kind(kind: TemplateType) -> TemplateKind:
    return TemplateKind.ENVIRONMENT if kind == TemplateType.ENVIRONMENT else TemplateKind.SERVICE


def _write_environment(
    session: Session, arns: Arns, write: _EnvironmentWrite, import_id: str, now: datetime
) -> None:
    exported = write.environment
    version = _version(session, exported.version)
    template = version.template
    deployed = exported.deployed
    row = Environment(
        name=exported.name,
        template_id=template.id,
        template_name=template.name,
        template_major=version.major,
        template_minor=version.minor,
        spec=write.spec,
        inputs=write.inputs,
        description=exported.description,
        provisioning=template.provisioning,
        provisioning_repository=_repository_column(write.resource.link),
        proton_service_role_arn=exported.proton_service_role_arn,
        codebuild_role_arn=exported.codebuild_role_arn,
        component_role_arn=exported.component_role_arn,
        **_deployed_columns(deployed, now),
    )
    session.add(row)
    session.flush()
    target = Target(DeploymentTargetResourceType.ENVIRONMENT, write.resource.arn, exported.name)
    state = {
        "environment": {
            "spec": write.spec,
            "templateName": template.name,
            "templateMajorVersion": str(version.major),
            "templateMinorVersion": str(version.minor),
        }
    }
    plan = TemplatePlan(version.id, write.spec, write.inputs)
    _record_deployment(session, row, target, state, plan, write.resource, import_id, now)
    _tags(session, write.resource.arn, exported.tags)


def _repository_column(link: _Link | None) -> dict[str, str] | None:
    if link is None:
        return None
    repository = link.repository
    return {"provider": repository.provider, "name": repository.name, "branch": repository.branch}


def _write_service(
    session: Session, arns: Arns, write: _ServiceWrite, import_id: str, now: datetime
) -> None:
    exported = write.service
    template = find_template(session, TemplateKind.SERVICE, exported.template_name)
    row = Service(
        name=exported.name,
        template_id=template.id,
        template_name=template.name,
        template_major=write.template_major,
        description=exported.description,
        spec=_without_skipped_instances(session, write.spec, exported.name, import_id),
        status=ServiceStatus.ACTIVE,
        repository_connection_arn=exported.repository_connection_arn,
        repository_id=exported.repository_id,
        branch_name=exported.branch_name,
        created_at=exported.created_at,
        last_modified_at=now,
    )
    session.add(row)
    session.flush()
    _tags(session, arns.service(exported.name), exported.tags)


def _without_skipped_instances(session: Session, spec: str, service: str, import_id: str) -> str:
    """The service's spec without the instances this import leaves out: Baryon would make
    them anew (a second copy of what Proton's stack still runs) from a spec naming them."""
    skipped = set(
        session.scalars(
            select(ImportItemRow.name).where(
                ImportItemRow.import_id == import_id,
                ImportItemRow.resource_type == Kind.SERVICE_INSTANCE,
                ImportItemRow.action == Action.SKIP,
                ImportItemRow.name.startswith(f"{service}/", autoescape=True),
            )
        )
    )
    if not skipped:
        return spec
    document = specs.parse_service_spec(spec)
    data = copy.deepcopy(document.source.data)
    data["instances"] = [
        entry
        for entry in data.get("instances") or []
        if not (isinstance(entry, dict) and f"{service}/{entry.get('name')}" in skipped)
    ]
    return specs.dump(data)


def _write_instance(
    session: Session, arns: Arns, write: _InstanceWrite, import_id: str, now: datetime
) -> None:
    exported = write.instance
    service = session.scalars(
        select(Service).where(Service.name == exported.service_name).with_for_update()
    ).first()
    if service is None:
        raise NotFound(f"the service '{exported.service_name}' is not in Baryon")
    environment = session.scalars(
        select(Environment).where(Environment.name == exported.environment_name)
    ).first()
    if environment is None:
        raise NotFound(f"the environment '{exported.environment_name}' is not in Baryon")
    version = _version(session, exported.version)
    row = ServiceInstance(
        service_id=service.id,
        environment_id=environment.id,
        template_id=service.template_id,
        name=exported.name,
        service_name=service.name,
        environment_name=environment.name,
        template_name=service.template_name,
        template_major=version.major,
        template_minor=version.minor,
        spec=write.spec,
        inputs=write.inputs,
        **_deployed_columns(exported.deployed, now),
    )
    session.add(row)
    session.flush()
    inherit_tags(session, arns.service(service.name), write.resource.arn)
    target = Target(
        DeploymentTargetResourceType.SERVICE_INSTANCE,
        write.resource.arn,
        environment.name,
        service_name=service.name,
        service_instance_name=exported.name,
    )
    pipeline = session.scalars(
        select(ServicePipeline).where(ServicePipeline.service_id == service.id)
    ).first()
    state: dict[str, Any] = {
        "serviceInstance": {
            "spec": write.spec or "",
            "templateName": service.template_name,
            "templateMajorVersion": str(version.major),
            "templateMinorVersion": str(version.minor),
            "lastSuccessfulEnvironmentDeploymentId": environment.last_succeeded_deployment_id,
            "lastSuccessfulServicePipelineDeploymentId": (
                pipeline.last_succeeded_deployment_id if pipeline else None
            ),
            "lastSuccessfulComponentDeploymentIds": [],
        }
    }
    plan = TemplatePlan(version.id, write.spec, write.inputs)
    _record_deployment(session, row, target, state, plan, write.resource, import_id, now)
    _tags(session, write.resource.arn, exported.tags)


def _write_pipeline(
    session: Session, arns: Arns, write: _PipelineWrite, import_id: str, now: datetime
) -> None:
    exported = write.pipeline
    service = session.scalars(
        select(Service).where(Service.name == exported.service_name).with_for_update()
    ).first()
    if service is None:
        raise NotFound(f"the service '{exported.service_name}' is not in Baryon")
    version = _version(session, exported.version)
    row = ServicePipeline(
        service_id=service.id,
        template_major=version.major,
        template_minor=version.minor,
        spec=write.spec,
        inputs=write.inputs,
        **_deployed_columns(exported.deployed, now),
    )
    session.add(row)
    session.flush()
    inherit_tags(session, arns.service(service.name), write.resource.arn)
    first = session.scalar(
        select(ServiceInstance.environment_name)
        .where(ServiceInstance.service_id == service.id)
        .order_by(ServiceInstance.name)
        .limit(1)
    )
    target = Target(
        DeploymentTargetResourceType.SERVICE_PIPELINE,
        write.resource.arn,
        first or "",
        service_name=service.name,
    )
    state = {
        "servicePipeline": {
            "spec": write.spec,
            "templateName": service.template_name,
            "templateMajorVersion": str(version.major),
            "templateMinorVersion": str(version.minor),
        }
    }
    plan = TemplatePlan(version.id, write.spec, write.inputs)
    _record_deployment(session, row, target, state, plan, write.resource, import_id, now)


def _write_component(
    session: Session, arns: Arns, write: _ComponentWrite, import_id: str, now: datetime
) -> None:
    exported = write.component
    environment = session.scalars(
        select(Environment).where(Environment.name == exported.environment_name)
    ).first()
    if environment is None:
        raise NotFound(f"the environment '{exported.environment_name}' is not in Baryon")
    row = Component(
        name=exported.name,
        description=exported.description,
        environment_id=environment.id,
        environment_name=environment.name,
        service_name=exported.service_name,
        service_instance_name=exported.service_instance_name,
        manifest=_COMPONENT_MANIFEST,
        template_file=write.template_file,
        service_spec=exported.service_spec,
        **_deployed_columns(exported.deployed, now),
    )
    session.add(row)
    session.flush()
    target = Target(
        DeploymentTargetResourceType.COMPONENT,
        write.resource.arn,
        environment.name,
        service_name=exported.service_name,
        service_instance_name=exported.service_instance_name,
        component_name=exported.name,
    )
    state = {
        "component": {
            "serviceName": exported.service_name,
            "serviceInstanceName": exported.service_instance_name,
            "serviceSpec": exported.service_spec,
            "templateFile": write.template_file,
        }
    }
    _record_deployment(session, row, target, state, write.plan, write.resource, import_id, now)
    _tags(session, write.resource.arn, exported.tags)


def _deployed_columns(deployed: Deployed, now: datetime) -> dict[str, Any]:
    return {
        "deployment_status": DeploymentStatus.SUCCEEDED,
        "last_deployment_attempted_at": deployed.last_attempted_at or deployed.created_at,
        "last_deployment_succeeded_at": deployed.last_succeeded_at or deployed.created_at,
        "created_at": deployed.created_at,
        "last_modified_at": now,
    }


def _record_deployment(
    session: Session,
    resource: deployments.Deployable,
    target: Target,
    state: dict[str, Any],
    plan: DeploymentPlan,
    imported: _Resource,
    import_id: str,
    now: datetime,
) -> None:
    """The resource's last successful deployment: the one Proton made, recorded as imported
    (same id when the export names it), with its outputs and provisioned resources; and the
    stack adopted. Nothing runs."""
    deployed, stack, link = imported.deployed, imported.stack, imported.link
    if stack is not None:
        deployment_id = _deployment_id(session, deployed, imported.arn, stack.stack_id)
        message = (
            f"Imported from AWS Proton by import {import_id}: stack {stack.name} "
            f"({stack.stack_id}) was adopted as it stands; nothing was deployed."
        )
    elif link is None:  # CodeBuild: its commands' infrastructure, known by its outputs
        deployment_id = _deployment_id(session, deployed, imported.arn, "codebuild")
        message = (
            f"Imported from AWS Proton by import {import_id}: provisioned by CodeBuild, kept "
            "as it stands with its exported outputs; nothing was deployed."
        )
    else:
        deployment_id = _deployment_id(
            session, deployed, imported.arn, link.folder.file, link.folder.deployment_id
        )
        message = (
            f"Imported from AWS Proton by import {import_id}: linked to {link.describe()}, "
            "which its pipeline applies; nothing was deployed."
        )
    when = deployed.last_succeeded_at or deployed.created_at
    record = Deployment(
        id=deployment_id,
        target_type=target.type,
        target_arn=target.arn,
        operation=DeploymentOperation.DEPLOY,
        environment_name=target.environment_name,
        service_name=target.service_name,
        service_instance_name=target.service_instance_name,
        component_name=target.component_name,
        status=DeploymentStatus.SUCCEEDED,
        status_message=message,
        cancel_requested=False,
        initial_state=None,
        target_state=state,
        plan=plan_to_json(plan, state),
        last_attempted_deployment_id=None,
        last_succeeded_deployment_id=None,
        target_resource_created_at=deployed.created_at,
        created_at=when,
        last_modified_at=now,
        completed_at=when,
    )
    session.add(record)
    session.flush()
    deployments.log_event(session, deployment_id, message, now)
    deployments.store_outputs(session, deployment_id, imported.outputs)
    deployments.replace_provisioned_resources(session, target.arn, imported.provisioned)
    resource.last_attempted_deployment_id = deployment_id
    resource.last_succeeded_deployment_id = deployment_id
    resource.deployment_status_message = None
    if stack is not None:
        adoption.adopt_stack(session, target.arn, stack.name, stack.stack_id, now)


def _deployment_id(
    session: Session, deployed: Deployed, arn: str, where: str, linked: str | None = None
) -> str:
    """Proton's id of the deployment scripts hold on to (a self-managed resource's pipeline
    reports with the one its metadata file names; others, the last successful one), unless
    Baryon knows that id already; else one derived from what is imported."""
    for exported in (linked, deployed.last_succeeded_deployment_id):
        if exported and _is_uuid(exported) and session.get(Deployment, exported) is None:
            return exported
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"baryon-import:{arn}:{where}"))


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower() and len(text) == 36
    except ValueError:
        return False


def _tags(session: Session, arn: str, tags: Sequence[ExportedTag] | None) -> None:
    wanted = _customer_tags(tags)
    if wanted:
        set_tags(session, arn, wanted)  # type: ignore[arg-type]


def iter_decisions(
    decisions: Sequence[Decision],
) -> Iterator[tuple[tuple[str, str, str | None], Decision]]:
    """The plan's decisions by identity, the CREATE (or RECOVER) one where a resource has
    two (it is applied; its ADOPT goes with it)."""
    for decision in decisions:
        if decision.action not in _FOLLOWERS:
            yield decision.identity, decision
