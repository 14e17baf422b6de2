"""A deployment's plan: what it deploys, fixed when the desired state is recorded.

The domain makes the plan in the request's transaction; the deployment record stores it as
JSON (the ``deployments.plan`` column) and the worker reads it back, typed, with
`plan_from_json`. The stored form is the one Baryon always wrote, plus a ``format`` number:
records written before it existed read as format 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PLAN_FORMAT = 1


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


DeploymentPlan = TemplatePlan | ComponentPlan | DeletePlan


def plan_to_json(plan: DeploymentPlan) -> dict[str, Any]:
    """The stored form (the keys every Baryon version wrote, so older readers still read it)."""
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
    else:
        stored = {}
    stored["format"] = PLAN_FORMAT
    return stored


def plan_from_json(stored: Mapping[str, Any] | None) -> DeploymentPlan:
    """The plan a deployment record holds; ValueError for a format this Baryon cannot read."""
    stored = stored or {}
    version = stored.get("format", 1)
    if version != PLAN_FORMAT:
        raise ValueError(f"deployment plan format {version!r} is newer than this Baryon reads")
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
    return DeletePlan()
