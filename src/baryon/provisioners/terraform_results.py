"""What Terraform's own documents say a run did: a plan's summary, and a state's outputs and
resources as a deployment reports them.

Proton could report only string outputs; here lists, maps, numbers and booleans become their
JSON text, so a downstream template can still read them (`jsondecode`, or Jinja's `fromjson`).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from baryon.provisioners.base import ProvisionedResource
from baryon.provisioners.cloudformation_change_sets import ResourceChange

ENGINE = "TERRAFORM"


def plan_summary(plan: dict[str, Any]) -> str:
    """Terraform's own line: a replacement counts once to add and once to destroy."""
    counts: Counter[str] = Counter()
    for change in plan.get("resource_changes") or []:
        actions = (change.get("change") or {}).get("actions") or []
        counts["add"] += actions.count("create")
        counts["change"] += actions.count("update")
        counts["destroy"] += actions.count("delete")
    return (
        f"Plan: {counts['add']} to add, {counts['change']} to change, "
        f"{counts['destroy']} to destroy."
    )


def outputs_of(state: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, output in (state.get("outputs") or {}).items():
        value = output.get("value") if isinstance(output, dict) else None
        found[name] = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return found


def resources_of(state: dict[str, Any]) -> list[ProvisionedResource]:
    """Every managed resource instance: ``module.type.name[key]`` and its id."""
    found: list[ProvisionedResource] = []
    for resource in state.get("resources") or []:
        if resource.get("mode") != "managed":
            continue
        prefix = f"{resource['module']}." if resource.get("module") else ""
        address = f"{prefix}{resource.get('type')}.{resource.get('name')}"
        for instance in resource.get("instances") or []:
            key = instance.get("index_key")
            name = address if key is None else f"{address}[{json.dumps(key)}]"
            identifier = (instance.get("attributes") or {}).get("id")
            found.append(ProvisionedResource(name, str(identifier or ""), ENGINE))
    return found


def parse_state(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else None


def plan_changes(plan: dict[str, Any]) -> tuple[ResourceChange, ...]:
    """A plan's resource changes in a change set's words, so a fleet preview flags both
    engines alike: create is Add; update is Modify; delete is Remove with the Delete policy
    (its data goes); a replace is a Modify with Replacement True and ReplaceAndDelete. The
    changed paths are the top-level attributes whose values differ (or are known only after
    apply). No-ops and reads are left out."""
    found = []
    for change in plan.get("resource_changes") or []:
        if change.get("mode", "managed") != "managed":
            continue
        detail = change.get("change") or {}
        actions = set(detail.get("actions") or [])
        replacement = policy = None
        if actions == {"create"}:
            action = "Add"
        elif actions == {"update"}:
            action, replacement = "Modify", "False"
        elif actions == {"delete"}:
            action, policy = "Remove", "Delete"
        elif actions == {"create", "delete"}:
            action, replacement, policy = "Modify", "True", "ReplaceAndDelete"
        else:
            continue
        found.append(
            ResourceChange(
                action=action,
                logical_id=str(change.get("address", "")),
                resource_type=str(change.get("type", "")),
                physical_id=None,
                replacement=replacement,
                policy_action=policy,
                scope=("Properties",) if action == "Modify" else (),
                paths=_changed_attributes(detail) if action == "Modify" else (),
            )
        )
    return tuple(found)


def output_changes(plan: dict[str, Any]) -> int:
    """How many outputs the plan changes (an apply is needed even with no resource change)."""
    return sum(
        1
        for change in (plan.get("output_changes") or {}).values()
        if set((change or {}).get("actions") or []) - {"no-op"}
    )


def _changed_attributes(detail: dict[str, Any]) -> tuple[str, ...]:
    before, after, unknown = (_mapping(detail.get(k)) for k in ("before", "after", "after_unknown"))
    names = set(before) | set(after) | {k for k, v in unknown.items() if v}
    return tuple(
        sorted(
            f"/{name}" for name in names if before.get(name) != after.get(name) or unknown.get(name)
        )
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
