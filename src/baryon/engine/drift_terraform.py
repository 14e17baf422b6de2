"""What a Terraform refresh-only plan says drifted: each changed attribute of a managed
object (``resource_drift``), objects gone, and outputs whose value moved
(``output_changes``). See Terraform's JSON output format (fleet-change.md 9)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from baryon.domain.drift import CheckMethod, DriftKind, Observation, ObservedDrift

OUTPUT_TYPE = "terraform_output"
_SENSITIVE = "(sensitive)"


def observation(plan: dict[str, Any]) -> Observation:
    found: list[ObservedDrift] = []
    for drift in plan.get("resource_drift") or []:
        if drift.get("mode", "managed") != "managed":
            continue
        change = drift.get("change") or {}
        actions = change.get("actions") or []
        address, kind = str(drift.get("address", "")), str(drift.get("type", ""))
        if actions == ["delete"]:
            expected = _text(change.get("before"))
            found.append(ObservedDrift(address, kind, None, "/", expected, None, DriftKind.DELETED))
            continue
        if "update" not in actions:
            continue
        masked = _sensitive(change.get("before_sensitive")) | _sensitive(
            change.get("after_sensitive")
        )
        for path, before, after, difference in _differences(
            change.get("before"), change.get("after"), ""
        ):
            hidden = path.split("/")[1] in masked if path else False
            found.append(
                ObservedDrift(
                    address,
                    kind,
                    None,
                    path,
                    _SENSITIVE if hidden else before,
                    _SENSITIVE if hidden else after,
                    difference,
                )
            )
    for name, change in sorted((plan.get("output_changes") or {}).items()):
        if "update" not in (change.get("actions") or []):
            continue
        hidden = bool(change.get("before_sensitive") or change.get("after_sensitive"))
        found.append(
            ObservedDrift(
                f"output.{name}",
                OUTPUT_TYPE,
                None,
                "/value",
                _SENSITIVE if hidden else _text(change.get("before")),
                _SENSITIVE if hidden else _text(change.get("after")),
                DriftKind.NOT_EQUAL,
            )
        )
    return Observation(CheckMethod.TERRAFORM, _managed_count(plan), 0, tuple(found))


def _differences(
    before: Any, after: Any, path: str
) -> Iterator[tuple[str, str | None, str | None, DriftKind]]:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            yield from _differences(before.get(key), after.get(key), f"{path}/{key}")
        return
    if before == after:
        return
    if before is None:
        yield path, None, _text(after), DriftKind.ADD
    elif after is None:
        yield path, _text(before), None, DriftKind.REMOVE
    else:
        yield path, _text(before), _text(after), DriftKind.NOT_EQUAL


def _sensitive(mask: Any) -> set[str]:
    if not isinstance(mask, dict):
        return set()
    return {key for key, value in mask.items() if value}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _managed_count(plan: dict[str, Any]) -> int:
    def count(module: dict[str, Any]) -> int:
        own = sum(1 for r in module.get("resources") or [] if r.get("mode") == "managed")
        return own + sum(count(child) for child in module.get("child_modules") or [])

    root = ((plan.get("prior_state") or {}).get("values") or {}).get("root_module") or {}
    return count(root)
