"""Merges spec values over schema defaults and validates the result.

Proton fills every omitted input that has a default, then validates; properties listed as
required but carrying a default may therefore be omitted. Specs come from YAML, so values
arrive as YAML scalars: an int is a valid `type: number`, and 10.0.0.0/16 is a string.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from baryon.bundles import json_schema
from baryon.bundles.checks import json_type
from baryon.bundles.errors import SpecError, SpecProblem, field_path
from baryon.bundles.validation_messages import describe_errors

if TYPE_CHECKING:
    from baryon.bundles.schema import TemplateSchema

_MAX_DEPTH = 64


def apply_inputs(
    schema: TemplateSchema, input_type_name: str, values: Any, *, where: str
) -> dict[str, Any]:
    """Return `values` with defaults filled in; raise SpecError naming every bad field.

    `where` prefixes field names in messages, e.g. "instances[0].spec" gives
    "instances[0].spec.port: must be <= 65535, got 80000". An empty or missing spec (YAML
    `spec:` is null) means "all defaults". Unknown inputs are errors unless the type sets
    additionalProperties.
    """
    validator = schema.validator(input_type_name)
    if values is None:
        values = {}
    if not isinstance(values, dict):
        problem = SpecProblem(where, f"must be a mapping of inputs, got {json_type(values)}")
        raise SpecError([problem], field=where or None)
    merged = copy.deepcopy(values)
    _fill_defaults(merged, schema.types[input_type_name], schema.types, 0)
    problems = [
        SpecProblem(field_path(path, where), message)
        for path, message in describe_errors(validator.iter_errors(merged))
    ]
    if problems:
        raise SpecError(problems, field=where or None)
    return merged


def _resolve(node: dict[str, Any], types: dict[str, dict[str, Any]]) -> dict[str, Any]:
    # Ref cycles were refused when the schema was parsed, so this terminates.
    while "$ref" in node:
        node = types[json_schema.ref_name(node["$ref"])]
    return node


def _fill_defaults(
    value: Any, node: dict[str, Any], types: dict[str, dict[str, Any]], depth: int
) -> None:
    """Fill defaults in place, descending only into objects and lists the spec provided."""
    if depth > _MAX_DEPTH:
        return
    node = _resolve(node, types)
    if isinstance(value, dict):
        for name, child in node.get("properties", {}).items():
            child = _resolve(child, types)
            if name not in value:
                if "default" in child:
                    value[name] = copy.deepcopy(child["default"])
            else:
                _fill_defaults(value[name], child, types, depth + 1)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            _fill_defaults(item, node["items"], types, depth + 1)
