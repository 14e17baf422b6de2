"""A deployment's plan: what it deploys, fixed when the desired state is recorded.

The domain makes the plan in the request's transaction; the deployment record stores it as
JSON (the ``deployments.plan`` column) and the worker reads it back, typed, with
`plan_from_json`. The stored form is the one Baryon always wrote, plus a ``format`` number:
records written before it existed read as format 1.

Format 2 stores a spec (and a component's template file and attachment) once per deployment:
the deployment's target state (Proton's shape, which GetDeployment answers) already holds it,
so the plan leaves out every value equal to the target state's and reads it from there. A value
that differs (a pipeline's target state keeps ``${Proton::CURRENT_VAL}`` as the request gave
it, the plan the resolved text) is still stored. Format 1 records carry everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PLAN_FORMAT = 2
_READABLE = frozenset({1, PLAN_FORMAT})

# The target state's member for each plan field it may share (components.state,
# environments.state, services.instance_state and services.pipeline_state write them).
_TEMPLATE_SHARED = {"spec": "spec"}
_COMPONENT_SHARED = {
    "template_file": "templateFile",
    "service_spec": "serviceSpec",
    "service_name": "serviceName",
    "service_instance_name": "serviceInstanceName",
}


@dataclass(frozen=True)
class TemplatePlan:
    """Environments, service instances and pipelines: a template version and the inputs its
    schema resolved from the spec (the spec as stored says what was deployed)."""

    template_version_id: int
    spec: str | None
    inputs: Mapping[str, Any]
    # Logged on the deployment when it starts (spec inputs the schema does not declare).
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ComponentPlan:
    """A directly defined component: its IaC inline, and where it is attached."""

    manifest: str
    template_file: str
    service_spec: str | None = None
    service_name: str | None = None
    service_instance_name: str | None = None
    # A component's IaC is checked whole when it is created; nothing to warn about.
    warnings: tuple[str, ...] = field(default=(), init=False)


@dataclass(frozen=True)
class DeletePlan:
    """A delete needs nothing but the resource's names, which the deployment record holds."""

    warnings: tuple[str, ...] = field(default=(), init=False)


@dataclass(frozen=True)
class RecoveryPlan:
    """Continue the engine's failed rollback, leaving ``resources_to_skip`` (the engine's
    logical names) as they are."""

    resources_to_skip: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=(), init=False)


DeploymentPlan = TemplatePlan | ComponentPlan | DeletePlan | RecoveryPlan


def _target_entry(target_state: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The one resource entry of a target state ({"environment": {...}} and the like)."""
    entries = list((target_state or {}).values())
    return entries[0] if len(entries) == 1 and isinstance(entries[0], Mapping) else {}


def plan_to_json(
    plan: DeploymentPlan, target_state: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The stored form: the keys every Baryon version wrote, less those ``target_state`` (the
    deployment's own record) holds with the same value."""
    if isinstance(plan, TemplatePlan):
        stored: dict[str, Any] = {
            "template_version_id": plan.template_version_id,
            "spec": plan.spec,
            "inputs": dict(plan.inputs),
        }
        if plan.warnings:
            stored["warnings"] = list(plan.warnings)
    elif isinstance(plan, ComponentPlan):
        stored = {
            "manifest": plan.manifest,
            "template_file": plan.template_file,
            "service_spec": plan.service_spec,
            "service_name": plan.service_name,
            "service_instance_name": plan.service_instance_name,
        }
    elif isinstance(plan, RecoveryPlan):
        stored = {"resources_to_skip": list(plan.resources_to_skip)}
    else:
        stored = {}
    shared = _TEMPLATE_SHARED if isinstance(plan, TemplatePlan) else _COMPONENT_SHARED
    entry = _target_entry(target_state)
    for key, member in shared.items():
        if key in stored and member in entry and entry[member] == stored[key]:
            del stored[key]
    stored["format"] = PLAN_FORMAT
    return stored


def plan_from_json(
    stored: Mapping[str, Any] | None, target_state: Mapping[str, Any] | None = None
) -> DeploymentPlan:
    """The plan a deployment record holds (``stored``, its ``plan``, with ``target_state``,
    its target state); ValueError for a format this Baryon cannot read."""
    stored = stored or {}
    version = stored.get("format", 1)
    if version not in _READABLE:
        raise ValueError(f"deployment plan format {version!r} is newer than this Baryon reads")
    entry = _target_entry(target_state)
    shared = (
        _TEMPLATE_SHARED
        if "template_version_id" in stored
        else _COMPONENT_SHARED
        if "manifest" in stored
        else {}
    )
    stored = {
        **{key: entry[member] for key, member in shared.items() if member in entry},
        **stored,
    }
    if "template_version_id" in stored:
        return TemplatePlan(
            template_version_id=stored["template_version_id"],
            spec=stored.get("spec"),
            inputs=stored.get("inputs") or {},
            warnings=tuple(stored.get("warnings") or ()),
        )
    if "manifest" in stored:
        return ComponentPlan(
            manifest=stored["manifest"],
            template_file=stored["template_file"],
            service_spec=stored.get("service_spec"),
            service_name=stored.get("service_name"),
            service_instance_name=stored.get("service_instance_name"),
        )
    if "resources_to_skip" in stored:
        return RecoveryPlan(tuple(stored["resources_to_skip"]))
    return DeletePlan()
