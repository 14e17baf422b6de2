"""Backward-compatibility rules between minor versions of a template's schema.

Proton's rule is that a minor version must not "require the developer to provide new
information" and its exact checks are unpublished (reference section 7), so these are
Baryon's: every spec valid for the old version must stay valid for the new one. Input
types are compared by role (environment, service, pipeline), so a renamed type is fine as
long as its content is compatible. Changing a default or widening a limit is allowed.
"""

from __future__ import annotations

from typing import Any

from baryon.bundles import json_schema
from baryon.bundles.checks import show
from baryon.bundles.schema import TemplateSchema

Types = dict[str, dict[str, Any]]


def minor_version_problems(old: TemplateSchema, new: TemplateSchema) -> list[str]:
    """One sentence per incompatibility of `new` with `old`; empty when compatible."""
    problems: list[str] = []
    old_roles, new_roles = old.input_types(), new.input_types()
    for role in ("environment", "service", "pipeline"):
        old_name, new_name = old_roles.get(role), new_roles.get(role)  # type: ignore[call-overload]
        if old_name and not new_name:
            problems.append(
                f"{role} input type {old_name!r} was removed; a minor version must keep "
                "the same input types"
            )
        elif new_name and not old_name:
            problems.append(
                f"{role} input type {new_name!r} was added; a minor version must keep "
                "the same input types"
            )
        elif old_name and new_name:
            comparer = _Comparer(old.types, new.types, f"{role} input {new_name!r}", problems)
            comparer.object(old.types[old_name], new.types[new_name], "")
    return problems


def _resolve(node: dict[str, Any], types: Types) -> dict[str, Any]:
    while "$ref" in node:
        node = types[json_schema.ref_name(node["$ref"])]
    return node


def _accepts_unknown_keys(node: dict[str, Any]) -> bool:
    # Mirrors inputs.apply_inputs: undeclared keys are ignored unless the object closes
    # itself with `additionalProperties: false`.
    return node.get("additionalProperties") is not False


class _Comparer:
    def __init__(self, old_types: Types, new_types: Types, label: str, out: list[str]) -> None:
        self.old_types = old_types
        self.new_types = new_types
        self.label = label
        self.out = out
        self.seen: set[tuple[int, int]] = set()  # recursive types compare once per pair

    def object(self, old: dict[str, Any], new: dict[str, Any], prefix: str) -> None:
        old, new = _resolve(old, self.old_types), _resolve(new, self.new_types)
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name in old_props:
            if name not in new_props:
                self.out.append(f"{self.label} property '{prefix}{name}' was removed")
        for name, new_prop in new_props.items():
            full = f"{prefix}{name}"
            has_default = "default" in _resolve(new_prop, self.new_types)
            needed = name in new_required and not has_default
            if name not in old_props:
                if needed:
                    self.out.append(
                        f"{self.label} property '{full}' is new, required and has no default"
                    )
                continue
            if needed and name not in old_required:
                self.out.append(
                    f"{self.label} property '{full}' became required and has no default"
                )
            elif needed and "default" in _resolve(old_props[name], self.old_types):
                self.out.append(
                    f"{self.label} property '{full}' is required and no longer has a default"
                )
            self.value(old_props[name], new_prop, full)
        if _accepts_unknown_keys(old) and not _accepts_unknown_keys(new):
            where = f" property '{prefix[:-1]}'" if prefix else ""
            self.out.append(f"{self.label}{where}: no longer accepts unknown properties")

    def value(self, old: dict[str, Any], new: dict[str, Any], name: str) -> None:
        old, new = _resolve(old, self.old_types), _resolve(new, self.new_types)
        if (id(old), id(new)) in self.seen:
            return
        self.seen.add((id(old), id(new)))
        changes = [
            *_type_changes(old, new),
            *_enum_changes(old, new),
            *_pattern_changes(old, new),
            *_raised(old, new, "minLength"),
            *_lowered(old, new, "maxLength"),
            *_number_bound(old, new, "minimum", "exclusiveMinimum", lower=True),
            *_number_bound(old, new, "maximum", "exclusiveMaximum", lower=False),
            *_raised(old, new, "minItems"),
            *_lowered(old, new, "maxItems"),
        ]
        self.out.extend(f"{self.label} property '{name}': {change}" for change in changes)
        if "items" in new:
            self.value(old.get("items", {}), new["items"], f"{name}[]")
        if new.get("type") == "object" or "properties" in new:
            self.object(old, new, f"{name}.")


def _type_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changes = []
    old_type, new_type = old.get("type"), new.get("type")
    if new_type is not None and old_type != new_type:
        if old_type is None:
            changes.append(f"type {new_type} added")
        elif (old_type, new_type) != ("integer", "number"):  # integer -> number widens
            changes.append(f"type changed from {old_type} to {new_type}")
    if old.get("nullable") is True and new.get("nullable") is not True:
        changes.append("no longer nullable")
    return changes


def _enum_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if "enum" not in new:
        return []
    if "enum" not in old:
        return [f"enum {show(new['enum'])} added"]
    dropped = [value for value in old["enum"] if value not in new["enum"]]
    return [f"enum no longer allows {show(dropped)}"] if dropped else []


def _pattern_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if "pattern" not in new:
        return []  # removing a pattern widens
    if "pattern" not in old:
        return [f"pattern {new['pattern']!r} added"]
    if old["pattern"] != new["pattern"]:
        # Whether one regex accepts a superset of another is impractical to decide, so
        # any change counts as narrowing.
        return [f"pattern changed from {old['pattern']!r} to {new['pattern']!r}"]
    return []


def _raised(old: dict[str, Any], new: dict[str, Any], key: str) -> list[str]:
    before, after = old.get(key, 0), new.get(key, 0)
    if after <= before:
        return []
    return [f"{key} raised from {before} to {after}" if key in old else f"{key} {after} added"]


def _lowered(old: dict[str, Any], new: dict[str, Any], key: str) -> list[str]:
    if key not in new:
        return []
    if key not in old:
        return [f"{key} {new[key]} added"]
    if new[key] < old[key]:
        return [f"{key} lowered from {old[key]} to {new[key]}"]
    return []


def _number_bound(
    old: dict[str, Any], new: dict[str, Any], key: str, flag: str, *, lower: bool
) -> list[str]:
    if key not in new:
        return []
    if key not in old:
        return [f"{key} {new[key]} added"]
    before, after = old[key], new[key]
    if (after > before) if lower else (after < before):
        return [f"{key} {'raised' if lower else 'lowered'} from {before} to {after}"]
    if after == before and new.get(flag) is True and old.get(flag) is not True:
        return [f"{key} {after} became exclusive"]
    return []
