"""What an upgrade will change, before it starts: the resource's IaC rendered with its
deployed version and inputs, and again with the target version and inputs, as a unified diff.
The portal's upgrade page shows it; the API is to offer it as an operation too, so that both
show the same preview for the same input.

Both renders go through the deployment job's own preparation (``engine.deploy``) on a
deployment that is never saved, and through the same pure renderer, so the right-hand side is
byte for byte what the deployment will hand to its provisioner (ARCHITECTURE rule 6).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from baryon.bundles.errors import BundleError
from baryon.domain import deployments, services, specs, versions
from baryon.domain.errors import DomainError
from baryon.engine import deploy
from baryon.operations.context import RequestContext
from baryon.operations.deployed_resources import Loaded, Upgrade, load, upgrade_target
from baryon.operations.resource_keys import ENVIRONMENT, INSTANCE, ResourceKey
from baryon.render.errors import RenderError
from baryon.runtime import Runtime
from baryon.store.tables import Deployment, Environment, TemplateVersion

_CONTEXT_LINES = 3


@dataclass(frozen=True)
class DiffLine:
    kind: str  # add | del | hunk | file | same
    text: str


@dataclass
class FileDiff:
    name: str
    lines: list[DiffLine]

    @property
    def changed(self) -> bool:
        return any(line.kind in ("add", "del") for line in self.lines)


@dataclass
class InputChange:
    name: str
    before: Any
    after: Any
    state: str  # added | removed | changed | same


@dataclass
class Preview:
    current: str  # "1.0"
    target: str  # "1.1"
    target_major: int
    target_minor: int
    inputs: list[InputChange] = field(default_factory=list)
    files: list[FileDiff] = field(default_factory=list)
    problem: str | None = None  # the upgrade cannot go ahead (and why)
    note: str | None = None  # something to know, e.g. the deployed version was deleted

    @property
    def changed(self) -> bool:
        return any(f.changed for f in self.files) or any(c.state != "same" for c in self.inputs)


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
    runtime: Runtime,
    loaded: Loaded,
    version: TemplateVersion,
    inputs: dict[str, Any],
    spec_text: str,
) -> dict[str, str]:
    """The files a deployment of ``version`` with ``inputs`` would deploy."""
    key = loaded.key
    draft = Deployment(
        id="preview",
        target_type={
            ENVIRONMENT: deployments.ENVIRONMENT,
            INSTANCE: deployments.SERVICE_INSTANCE,
        }.get(key.kind, deployments.SERVICE_PIPELINE),
        target_arn=key.arn(runtime.arns),
        operation=deployments.DEPLOY,
        environment_name=_environment_name(loaded),
        service_name=key.service,
        service_instance_name=key.name if key.kind == INSTANCE else None,
        cancel_requested=False,
        plan={"template_version_id": version.id, "spec": spec_text, "inputs": inputs},
    )
    planned = deploy.plan_of(session, runtime, draft)
    if planned.outputs is not None:
        return {"outputs (customer-managed: nothing is deployed)": _lines(planned.outputs)}
    return planned.files


def _environment_name(loaded: Loaded) -> str:
    row = loaded.row
    if loaded.key.kind == ENVIRONMENT:
        return loaded.key.name
    if loaded.key.kind == INSTANCE:
        return row.environment_name  # type: ignore[union-attr]
    return ""


def _lines(mapping: dict[str, str]) -> str:
    return "".join(f"{key}: {value}\n" for key, value in sorted(mapping.items()))


def build(
    session: Session,
    runtime: Runtime,
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
        after = _render(session, runtime, loaded, target, new_inputs, spec_text)
    except (RenderError, BundleError) as exc:
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
            before = _render(session, runtime, loaded, loaded.version, old_inputs, row.spec or "")
        except (RenderError, BundleError) as exc:
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
            changes.append(InputChange(name, None, after[name], "added"))
        elif name not in after:
            changes.append(InputChange(name, before[name], None, "removed"))
        elif before[name] != after[name]:
            changes.append(InputChange(name, before[name], after[name], "changed"))
        else:
            changes.append(InputChange(name, before[name], after[name], "same"))
    return changes


def _diff(name: str, before: str | None, after: str | None, preview: Preview) -> FileDiff:
    old = (before or "").splitlines(keepends=True)
    new = (after or "").splitlines(keepends=True)
    lines = []
    for text in difflib.unified_diff(
        old,
        new,
        fromfile=f"{name} ({preview.current})" if before is not None else "/dev/null",
        tofile=f"{name} ({preview.target})" if after is not None else "/dev/null",
        n=_CONTEXT_LINES,
    ):
        text = text.rstrip("\n")
        if text.startswith(("+++", "---")):
            kind = "file"
        elif text.startswith("@@"):
            kind = "hunk"
        elif text.startswith("+"):
            kind = "add"
        elif text.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        lines.append(DiffLine(kind, text))
    return FileDiff(name, lines)


@dataclass(frozen=True)
class UpgradePreview:
    loaded: Loaded
    target: TemplateVersion | None  # None: already on the recommended version of the scope
    preview: Preview | None


def upgrade_preview(ctx: RequestContext, key: ResourceKey, upgrade: Upgrade) -> UpgradePreview:
    """What ``upgrade`` of ``key`` would deploy, against what it runs now."""
    with ctx.db.session() as session:
        loaded = load(session, key)
        target = upgrade_target(session, loaded, upgrade)
        if target is None:
            return UpgradePreview(loaded, None, None)
        return UpgradePreview(loaded, target, build(session, ctx.runtime, loaded, target))
