"""Checks the OpenAPI 3.0 Schema Objects under `types:` in schema/schema.yaml.

Only the subset Proton bundles use (plus a few harmless OpenAPI annotations) is accepted,
and unknown keywords are errors: a misspelt "maximun" would otherwise be silently ignored
and the limit never enforced. Values (defaults, enum entries) are checked afterwards, by
schema.py, once every type is known.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from baryon import patterns
from baryon.bundles import checks
from baryon.bundles.yaml_source import Path, YamlDocument

TYPES = ("object", "string", "number", "integer", "boolean", "array")
ANNOTATIONS = {"title", "description", "example", "format"}
# Keywords that only constrain values of one JSON type; elsewhere they are ignored.
APPLIES_TO = {
    "properties": "object",
    "required": "object",
    "additionalProperties": "object",
    "pattern": "string",
    "minLength": "string",
    "maxLength": "string",
    "minimum": "number",
    "maximum": "number",
    "exclusiveMinimum": "number",
    "exclusiveMaximum": "number",
    "items": "array",
    "minItems": "array",
    "maxItems": "array",
}
KEYWORDS = {"type", "default", "enum", "nullable", "$ref", *ANNOTATIONS, *APPLIES_TO}
_REF = re.compile(r"#/([A-Za-z0-9_.-]+)")  # fullmatch: "$" would let "#/T\n" through


def check_schema_object(
    doc: YamlDocument, path: Path, node: Any, type_names: set[str], warnings: list[str]
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Validate one Schema Object and its children; yield every (path, object) visited."""
    node = checks.mapping(doc, path, node, "a schema object (a mapping of keywords)")
    checks.no_unknown_keys(doc, path, node, KEYWORDS, "schema keyword")
    yield path, node
    if "$ref" in node:
        _check_ref(doc, path, node, type_names)
        return
    declared = node.get("type")
    if declared is not None and declared not in TYPES:
        raise doc.error((*path, "type"), f"unknown type {declared!r}; expected one of {TYPES}")
    for keyword in ("title", "description", "format"):
        if keyword in node and not isinstance(node[keyword], str):
            raise doc.error((*path, keyword), f"'{keyword}' must be a string")
    if "nullable" in node and not isinstance(node["nullable"], bool):
        raise doc.error((*path, "nullable"), "'nullable' must be true or false")
    if "enum" in node and (not isinstance(node["enum"], list) or not node["enum"]):
        raise doc.error((*path, "enum"), "'enum' must be a non-empty list")
    _check_pattern(doc, path, node)
    _check_bounds(doc, path, node)
    _warn_misplaced(doc, path, node, declared, warnings)
    yield from _check_children(doc, path, node, type_names, warnings)


def _check_ref(doc: YamlDocument, path: Path, node: dict[str, Any], names: set[str]) -> None:
    ref = node["$ref"]
    match = _REF.fullmatch(ref) if isinstance(ref, str) else None
    if match is None:
        raise doc.error((*path, "$ref"), f"$ref {ref!r} must look like '#/TypeName'")
    if match.group(1) not in names:
        raise doc.error((*path, "$ref"), f"$ref {ref!r} names no type under 'types'")
    extra = sorted(set(node) - {"$ref", "title", "description"})
    if extra:
        # OpenAPI 3.0 ignores siblings of $ref; refusing them avoids silently dropped rules.
        raise doc.error((*path, extra[0]), f"{extra[0]!r} cannot be combined with $ref")


def _check_pattern(doc: YamlDocument, path: Path, node: dict[str, Any]) -> None:
    if "pattern" not in node:
        return
    pattern = node["pattern"]
    if not isinstance(pattern, str):
        raise doc.error((*path, "pattern"), "'pattern' must be a string")
    try:
        patterns.compile_pattern(pattern)
    except patterns.PatternError as exc:
        raise doc.error((*path, "pattern"), f"pattern {pattern!r} {exc}") from None


def _check_bounds(doc: YamlDocument, path: Path, node: dict[str, Any]) -> None:
    for keyword in ("minLength", "maxLength", "minItems", "maxItems"):
        value = node.get(keyword)
        if keyword in node and (type(value) is not int or value < 0):
            raise doc.error((*path, keyword), f"'{keyword}' must be a whole number >= 0")
    for keyword in ("minimum", "maximum"):
        value = node.get(keyword)
        if keyword in node and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise doc.error((*path, keyword), f"'{keyword}' must be a number")
    for keyword, base in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if keyword not in node:
            continue
        if not isinstance(node[keyword], bool):
            raise doc.error(
                (*path, keyword),
                f"'{keyword}' must be true or false in OpenAPI 3.0 (it makes '{base}' exclusive)",
            )
        if base not in node:
            raise doc.error((*path, keyword), f"'{keyword}' needs '{base}'")
    for low, high in (("minLength", "maxLength"), ("minimum", "maximum"), ("minItems", "maxItems")):
        if low in node and high in node and node[low] > node[high]:
            raise doc.error(
                (*path, low), f"'{low}' {node[low]} is greater than '{high}' {node[high]}"
            )


def _warn_misplaced(
    doc: YamlDocument, path: Path, node: dict[str, Any], declared: str | None, warnings: list[str]
) -> None:
    if declared is None:
        return
    for keyword, applies_to in APPLIES_TO.items():
        fits = declared == applies_to or (applies_to == "number" and declared == "integer")
        if keyword in node and not fits:
            reason = f"'{keyword}' has no effect on type {declared} (it applies to {applies_to})"
            warnings.append(str(doc.error((*path, keyword), reason)))


def _check_children(
    doc: YamlDocument, path: Path, node: dict[str, Any], names: set[str], warnings: list[str]
) -> Iterator[tuple[Path, dict[str, Any]]]:
    properties = node.get("properties", {})
    properties = checks.mapping(doc, (*path, "properties"), properties)
    for name, child in properties.items():
        if not isinstance(name, str):
            raise doc.error(
                (*path, "properties", name), f"property name {name!r} must be a string (quote it)"
            )
        yield from check_schema_object(doc, (*path, "properties", name), child, names, warnings)
    if "required" in node:
        required = checks.string_list(doc, (*path, "required"), node["required"])
        for index, name in enumerate(required):
            if name not in properties:
                raise doc.error(
                    (*path, "required", index),
                    f"'required' names {name!r}, which is not a property of this type",
                )
            if required.index(name) != index:
                raise doc.error((*path, "required", index), f"{name!r} is listed twice")
    if "items" in node:
        yield from check_schema_object(doc, (*path, "items"), node["items"], names, warnings)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from check_schema_object(doc, (*path, "additionalProperties"), extra, names, warnings)
    elif "additionalProperties" in node and not isinstance(extra, bool):
        raise doc.error(
            (*path, "additionalProperties"),
            "'additionalProperties' must be true, false or a schema",
        )
