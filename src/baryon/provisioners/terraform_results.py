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
