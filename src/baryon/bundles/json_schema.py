"""Translates the OpenAPI 3.0 Schema Objects of schema.yaml into JSON Schema 2020-12.

jsonschema (the library) validates JSON Schema, not OpenAPI, and the two differ exactly
where Proton schemas use them: `nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`,
`example`, and `$ref: "#/OtherType"` pointing into `types:`. `additionalProperties` means
what it says; where a schema does not say it, keys it does not declare are accepted and
ignored with a warning before validation (inputs.py), so the translation leaves it out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"
RefTarget = Callable[[str], str]


def document(types: Mapping[str, dict[str, Any]], root: str) -> dict[str, Any]:
    """A standalone JSON Schema for input type `root`; other types go under $defs."""

    def target(name: str) -> str:
        return "#" if name == root else f"#/$defs/{name}"

    result: dict[str, Any] = {"$schema": DRAFT, **translate(types[root], target)}
    defs = {name: translate(node, target) for name, node in types.items() if name != root}
    if defs:
        result["$defs"] = defs
    return result


def _defs_target(name: str) -> str:
    return f"#/$defs/{name}"


def all_defs(types: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Every type translated, for value_document; compute once per schema."""
    return {name: translate(each, _defs_target) for name, each in types.items()}


def value_document(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A standalone JSON Schema for any Schema Object inside `types` (to check defaults)."""
    return {"$schema": DRAFT, **translate(node, _defs_target), "$defs": defs}


def ref_name(ref: str) -> str:
    """ "#/SvcInput" -> "SvcInput" (the only $ref form schema_objects accepts)."""
    return ref[2:]


def translate(node: dict[str, Any], target: RefTarget) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            out["$ref"] = target(ref_name(value))
        elif key == "properties":
            out[key] = {name: translate(child, target) for name, child in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = translate(value, target)
        elif key == "example":
            out["examples"] = [value]
        elif key in ("nullable", "exclusiveMinimum", "exclusiveMaximum", "minimum", "maximum"):
            continue  # handled below, they depend on each other
        else:
            out[key] = value
    _bounds(node, out)
    if node.get("nullable") is True:
        _allow_null(out)
    return out


def _bounds(node: dict[str, Any], out: dict[str, Any]) -> None:
    # OpenAPI 3.0: `exclusiveMinimum: true` turns `minimum` into a strict bound;
    # JSON Schema 2020-12 spells that `exclusiveMinimum: <number>`.
    for base, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if base in node:
            out[flag if node.get(flag) is True else base] = node[base]


def _allow_null(out: dict[str, Any]) -> None:
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
