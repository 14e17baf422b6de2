"""What a deployment will change, before it starts: the resource's IaC rendered with its
deployed version and inputs, and again with the target version and inputs, file by file and
as a unified diff.

One operation for every front door: the portal's upgrade page and the ``baryon`` API's
GetDeploymentPreview (operations/deployment_previews.py) both call `preview_deployment`'s
code with a `PreviewRequest`, so they show the same preview, and the same problem, for the
same input. The target version is chosen by the rules an update follows
(``versions.target_version``), and both renders go through the deploy job's own reading and
render (``domain.render_target``), so the right-hand side is byte for byte what the
deployment will hand to its provisioner (ARCHITECTURE rule 6). Nothing is recorded or
enqueued.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from baryon.domain import file_diffs, render_target, services, specs, versions
from baryon.domain.errors import DomainError
from baryon.domain.plan import TemplatePlan
from baryon.operations.context import RequestContext
from baryon.operations.deployed_resources import Loaded, Upgrade, load, upgrade_target
from baryon.operations.resource_keys import ENVIRONMENT, INSTANCE, ResourceKey
from baryon.service_models.baryon import PreviewDeploymentType
from baryon.service_models.proton import DeploymentUpdateType
from baryon.store.tables import Environment, TemplateVersion


class DiffLineKind(StrEnum):
    ADD = "add"
    DEL = "del"
    HUNK = "hunk"
    FILE = "file"
    SAME = "same"


class InputState(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    SAME = "same"


@dataclass(frozen=True)
class DiffLine:
    kind: DiffLineKind
    text: str


@dataclass
class FileDiff:
    name: str
    lines: list[DiffLine]
    before: str | None = None  # the file as deployed now (None: it is new)
    after: str | None = None  # the file as the deployment would deploy it (None: it goes)

    @property
    def changed(self) -> bool:
        return any(line.kind in (DiffLineKind.ADD, DiffLineKind.DEL) for line in self.lines)


@dataclass
class InputChange:
    name: str
    before: Any
    after: Any
    state: InputState


@dataclass(frozen=True)
class PreviewRequest:
    """A deployment to preview: of ``resource``, to the version an update of
    ``deployment_type`` (with an optional major and minor, as Proton's update operations take
    them) would deploy, with ``spec`` (None: the deployed spec)."""

    resource: ResourceKey
    deployment_type: PreviewDeploymentType
    major: str | None = None
    minor: str | None = None
    spec: str | None = None


@dataclass
class Preview:
    current: str  # "1.0"
    target: str  # "1.1"
    current_major: int
    current_minor: int
    target_major: int
    target_minor: int
    inputs: list[InputChange] = field(default_factory=list)
    files: list[FileDiff] = field(default_factory=list)
    problem: str | None = None  # the upgrade cannot go ahead (and why)
    note: str | None = None  # something to know, e.g. the deployed version was deleted

    @property
    def changed(self) -> bool:
        return any(f.changed for f in self.files) or any(
            c.state != InputState.SAME for c in self.inputs
        )


def target_inputs(loaded: Loaded, version: TemplateVersion, spec_text: str) -> dict[str, Any]:
    """The inputs ``spec_text`` gives with ``version``'s schema: what the domain will compute."""
    schema = versions.version_schema(version)
    row = loaded.row
    if loaded.key.kind == ENVIRONMENT:
        values = specs.parse_environment_spec(spec_text)
        type_name, where = schema.environment_input_type, "spec"
    elif loaded.key.kind == INSTANCE:
        entry = specs.parse_service_spec(spec_text).instance(loaded.key.name)
        values, type_name = entry.spec, schema.service_input_type
        where = f"instances[{entry.index}].spec"
    else:
        values = specs.parse_service_spec(spec_text).pipeline
        type_name, where = schema.pipeline_input_type, "pipeline"
    return specs.apply_inputs(schema, type_name, values, where=where, current=row.inputs)


def _render(
    session: Session,
    ctx: RequestContext,
    loaded: Loaded,
    version: TemplateVersion,
    inputs: dict[str, Any],
    spec_text: str,
) -> dict[str, str]:
    """The files a deployment of ``version`` with ``inputs`` would deploy."""
    planned = render_target.preview(
        session,
        ctx.settings,
        ctx.arns,
        loaded.row,
        loaded.key.arn(ctx.arns),
        TemplatePlan(version.id, spec_text, inputs),
    )
    if planned.outputs is not None:
        return {"outputs (customer-managed: nothing is deployed)": _lines(planned.outputs)}
    return dict(planned.files)


def _lines(mapping: Mapping[str, str]) -> str:
    return "".join(f"{key}: {value}\n" for key, value in sorted(mapping.items()))


def build(
    session: Session,
    ctx: RequestContext,
    loaded: Loaded,
    target: TemplateVersion,
    spec_text: str | None = None,
) -> Preview:
    """The preview of deploying ``target`` (with ``spec_text``, default the deployed spec)."""
    row = loaded.row
    spec_text = row.spec or "" if spec_text is None else spec_text
    preview = Preview(
        current=f"{row.template_major}.{row.template_minor}",
        target=f"{target.major}.{target.minor}",
        current_major=row.template_major,
        current_minor=row.template_minor,
        target_major=target.major,
        target_minor=target.minor,
    )
    try:
        new_inputs = target_inputs(loaded, target, spec_text)
    except DomainError as exc:
        preview.problem = (
            f"The spec does not fit version {preview.target}, so this upgrade would be "
            f"refused: {exc.message}"
        )
        return preview
    if loaded.key.kind == INSTANCE and loaded.service is not None:
        problem = _compatibility_problem(session, loaded, target)
        if problem:
            preview.problem = problem
            return preview
    old_inputs = dict(row.inputs or {})
    preview.inputs = _input_changes(old_inputs, new_inputs)
    try:
        after = _render(session, ctx, loaded, target, new_inputs, spec_text)
    except render_target.NotRenderable as exc:
        preview.problem = f"Version {preview.target} does not render with these inputs: {exc}"
        return preview
    before: dict[str, str] = {}
    if loaded.version is None:
        preview.note = (
            f"The deployed version {preview.current} was deleted; the whole of "
            f"{preview.target} is shown as new."
        )
    elif row.last_succeeded_deployment_id is None:
        preview.note = "Nothing has been deployed successfully yet; everything is new."
    else:
        try:
            before = _render(session, ctx, loaded, loaded.version, old_inputs, row.spec or "")
        except render_target.NotRenderable as exc:
            preview.note = f"The deployed version no longer renders ({exc}); shown as new."
    names = sorted(set(before) | set(after))
    preview.files = [_diff(name, before.get(name), after.get(name), preview) for name in names]
    return preview


def _compatibility_problem(session: Session, loaded: Loaded, target: TemplateVersion) -> str | None:
    environment = session.get(Environment, loaded.row.environment_id)  # type: ignore[union-attr]
    if environment is None:
        return None
    try:
        services.check_compatible(target, environment, "environment")
    except DomainError as exc:
        return exc.message
    return None


def _input_changes(before: dict[str, Any], after: dict[str, Any]) -> list[InputChange]:
    changes = []
    for name in list(dict.fromkeys([*before, *after])):
        if name not in before:
            changes.append(InputChange(name, None, after[name], InputState.ADDED))
        elif name not in after:
            changes.append(InputChange(name, before[name], None, InputState.REMOVED))
        elif before[name] != after[name]:
            changes.append(InputChange(name, before[name], after[name], InputState.CHANGED))
        else:
            changes.append(InputChange(name, before[name], after[name], InputState.SAME))
    return changes


def _diff(name: str, before: str | None, after: str | None, preview: Preview) -> FileDiff:
    lines = []
    for text in file_diffs.unified_lines(name, before, after, preview.current, preview.target):
        if text.startswith(("+++", "---")):
            kind = DiffLineKind.FILE
        elif text.startswith("@@"):
            kind = DiffLineKind.HUNK
        elif text.startswith("+"):
            kind = DiffLineKind.ADD
        elif text.startswith("-"):
            kind = DiffLineKind.DEL
        else:
            kind = DiffLineKind.SAME
        lines.append(DiffLine(kind, text))
    return FileDiff(name, lines, before, after)


@dataclass(frozen=True)
class UpgradePreview:
    loaded: Loaded
    target: TemplateVersion | None  # None: already on the recommended version of the scope
    preview: Preview | None


def preview_deployment(ctx: RequestContext, request: PreviewRequest) -> Preview:
    """What the deployment ``request`` describes would change. Raises the domain's errors for
    a request an update would refuse before looking at the spec (no such resource or version,
    a version the deployment type does not reach); a spec or version the update would refuse
    later is the preview's ``problem``."""
    with ctx.db.session() as session:
        return _preview(session, ctx, load(session, request.resource), request)


def _preview(
    session: Session, ctx: RequestContext, loaded: Loaded, request: PreviewRequest
) -> Preview:
    target = versions.target_version(
        session,
        loaded.template,
        deployed=(loaded.row.template_major, loaded.row.template_minor),
        # A preview's types are a subset of an update's, with the same names.
        deployment_type=DeploymentUpdateType(request.deployment_type),
        major=request.major,
        minor=request.minor,
    )
    return build(session, ctx, loaded, target, request.spec)


def upgrade_request(key: ResourceKey, upgrade: Upgrade, target: TemplateVersion) -> PreviewRequest:
    """The preview of ``upgrade`` to exactly ``target``, as an update request names it."""
    return PreviewRequest(
        key,
        PreviewDeploymentType(upgrade.deployment_type),
        major=str(target.major) if upgrade is Upgrade.MAJOR else None,
        minor=str(target.minor),
    )


def upgrade_preview(ctx: RequestContext, key: ResourceKey, upgrade: Upgrade) -> UpgradePreview:
    """What ``upgrade`` of ``key`` would deploy, against what it runs now."""
    with ctx.db.session() as session:
        loaded = load(session, key)
        target = upgrade_target(session, loaded, upgrade)
        if target is None:
            return UpgradePreview(loaded, None, None)
        preview = _preview(session, ctx, loaded, upgrade_request(key, upgrade, target))
        return UpgradePreview(loaded, target, preview)
