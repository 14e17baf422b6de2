"""Merges spec values over schema defaults and validates the result.

Proton fills every omitted input that has a default, then validates; properties listed as
required but carrying a default may therefore be omitted. Specs come from YAML, so values
arrive as YAML scalars: an int is a valid `type: number`, and 10.0.0.0/16 is a string.

Three rules follow what Proton did with bundles and specs that AWS itself published:

* A spec key that the schema does not declare (an object that lists `properties` and says
  nothing about `additionalProperties`) is accepted, reported as ignored, and left out of the
  inputs: templates only see what the schema declares. AWS's lambda-multi-svc README deploys
  `packaging_commands` against a schema that declares `packaging_command`; Proton's reaction
  to undeclared keys is not documented (reference, section 7), so Baryon accepts them, says
  so, and renders only declared inputs, as the schema "matches, validates and injects"
  them ([UG ag-schema]). An explicit `additionalProperties: false` still refuses them.
* A default that does not fit its own property (AWS published `type: boolean` with
  `default: public`) is passed to the template as written: Proton registered such bundles
  and did not validate defaults, so a spec relying on the default deploys as it did there.
  The version's statusMessage warns about it (schema.py).
* NaN and Infinity (YAML `.nan`, `.inf`, or a number too large for a double) are refused:
  they pass every `minimum`/`maximum` comparison and JSON cannot carry them.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from baryon.bundles import json_schema
from baryon.bundles.checks import json_type
from baryon.bundles.errors import SpecError, SpecProblem, field_path
from baryon.bundles.validation_messages import describe_errors, unknown_key_message
from baryon.bundles.yaml_source import Path

if TYPE_CHECKING:
    from baryon.bundles.schema import TemplateSchema

_MAX_DEPTH = 64


@dataclass(frozen=True)
class AppliedInputs:
    """The inputs a template renders with, and the spec keys left out of them."""

    values: dict[str, Any]
    ignored: list[SpecProblem] = field(default_factory=list)  # undeclared keys, one each


def apply_inputs(
    schema: TemplateSchema, input_type_name: str, values: Any, *, where: str
) -> dict[str, Any]:
    """The inputs of `resolve_inputs`, without the list of ignored keys."""
    return resolve_inputs(schema, input_type_name, values, where=where).values


def resolve_inputs(
    schema: TemplateSchema, input_type_name: str, values: Any, *, where: str
) -> AppliedInputs:
    """`values` with defaults filled in and undeclared keys left out; raise SpecError
    naming every bad field.

    `where` prefixes field names in messages, e.g. "instances[0].spec" gives
    "instances[0].spec.port: must be <= 65535, got 80000". An empty or missing spec (YAML
    `spec:` is null) means "all defaults".
    """
    validator = schema.validator(input_type_name)
    if values is None:
        values = {}
    if not isinstance(values, dict):
        problem = SpecProblem(where, f"must be a mapping of inputs, got {json_type(values)}")
        raise SpecError([problem], field=where or None)
    merged = copy.deepcopy(values)
    root = schema.types[input_type_name]
    ignored: list[Path] = []
    _drop_undeclared(merged, root, schema.types, (), ignored)
    problems = [
        SpecProblem(field_path(path, where), f"must be a finite number, got {value}", path)
        for path, value in _non_finite(merged, ())
    ]
    filled: list[Path] = []
    _fill_defaults(merged, root, schema.types, (), filled)
    problems += [
        SpecProblem(field_path(path, where), message, path)
        for path, message in describe_errors(validator.iter_errors(merged))
        if not _inside_any(path, filled)
    ]
    if problems:
        raise SpecError(problems, field=where or None)
    return AppliedInputs(
        merged, [_ignored(schema, input_type_name, path, where) for path in ignored]
    )


def _ignored(schema: TemplateSchema, input_type_name: str, path: Path, where: str) -> SpecProblem:
    parent = _node_at(schema.types[input_type_name], schema.types, path[:-1])
    known = sorted(parent.get("properties", {}))
    message = unknown_key_message(path[:-1], str(path[-1]), known)
    return SpecProblem(field_path(path, where), f"{message}; it is ignored", path)


def _inside_any(path: Path, prefixes: list[Path]) -> bool:
    return any(path[: len(prefix)] == prefix for prefix in prefixes)


def _node_at(node: dict[str, Any], types: dict[str, dict[str, Any]], path: Path) -> dict:
    node = _resolve(node, types)
    for part in path:
        child = node.get("items") if isinstance(part, int) else node["properties"][part]
        node = _resolve(child, types)
    return node


def _resolve(node: dict[str, Any], types: dict[str, dict[str, Any]]) -> dict[str, Any]:
    # Ref cycles were refused when the schema was parsed, so this terminates.
    while "$ref" in node:
        node = types[json_schema.ref_name(node["$ref"])]
    return node


def _drop_undeclared(
    value: Any, node: dict[str, Any], types: dict[str, dict[str, Any]], path: Path, out: list[Path]
) -> None:
    """Remove, in place, the keys of objects that list properties without saying anything
    about additionalProperties, recording each removed key's path in `out`."""
    if len(path) > _MAX_DEPTH:
        return
    node = _resolve(node, types)
    if isinstance(value, dict):
        properties = node.get("properties")
        if not isinstance(properties, dict):
            return
        for name in list(value):
            if name in properties:
                _drop_undeclared(value[name], properties[name], types, (*path, name), out)
            elif "additionalProperties" not in node:
                del value[name]
                out.append((*path, name))
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            _drop_undeclared(item, node["items"], types, (*path, index), out)


def _non_finite(value: Any, path: Path) -> list[tuple[Path, float]]:
    if isinstance(value, float) and not math.isfinite(value):
        return [(path, value)]
    if len(path) > _MAX_DEPTH:
        return []
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _non_finite(item, (*path, key))]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _non_finite(item, (*path, i))]
    return []


def _fill_defaults(
    value: Any, node: dict[str, Any], types: dict[str, dict[str, Any]], path: Path, out: list[Path]
) -> None:
    """Fill defaults in place, descending only into objects and lists the spec provided;
    record the path of every value that came from a default in `out`."""
    if len(path) > _MAX_DEPTH:
        return
    node = _resolve(node, types)
    if isinstance(value, dict):
        for name, child in node.get("properties", {}).items():
            child = _resolve(child, types)
            if name not in value:
                if "default" in child:
                    value[name] = copy.deepcopy(child["default"])
                    out.append((*path, name))
            else:
                _fill_defaults(value[name], child, types, (*path, name), out)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            _fill_defaults(item, node["items"], types, (*path, index), out)
