"""Reads a rendered CloudFormation template, so that broken output fails at render time.

A template that renders but is not valid YAML (a bad ``{% if %}``, a multi-line value at the
wrong column) would otherwise only fail when CloudFormation rejects it; parsing it here
turns that into a RenderError with the line, in a preview too.

The short-form tags (``!Ref``, ``!GetAtt a.b``, ``!Sub``...) become their long forms
(``{"Ref": ...}``, ``{"Fn::GetAtt": ["a", "b"]}``). Dates stay strings, as CloudFormation
reads them (``Version: 2012-10-17``), and duplicate keys are errors, as they are for
CloudFormation, rather than silently keeping the last one.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from baryon.render.errors import RenderError

_TAGS = {
    "And", "Base64", "Cidr", "Condition", "Contains", "EachMemberEquals", "EachMemberIn",
    "Equals", "FindInMap", "ForEach", "GetAZs", "GetAtt", "If", "ImportValue", "Join",
    "Length", "Not", "Or", "Ref", "RefAll", "Select", "Split", "Sub", "ToJsonString",
    "Transform", "ValueOf", "ValueOfAll",
}  # fmt: skip
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


# libyaml's parser is about twenty times faster; the pure-Python one is the fallback.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CloudFormationLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    # CloudFormation reads 2012-10-17 as a string, not a date.
    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # resolve YAML merge keys (<<) before looking for duplicates
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen[key] + 1})",
                    key_node.start_mark,
                )
            if isinstance(key, str):
                seen[key] = key_node.start_mark.line
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: Node) -> dict[str, Any]:
    if suffix not in _TAGS:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown CloudFormation tag !{suffix}", node.start_mark
        )
    value: Any
    if isinstance(node, ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {key: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def parse_cloudformation(text: str, file: str) -> dict[str, Any]:
    """Parse a CloudFormation template (YAML or JSON); RenderError with the line if invalid."""
    is_json = text.lstrip().startswith("{")
    document = _parse_json(text, file) if is_json else _parse_yaml(text, file)
    if not isinstance(document, dict):
        raise RenderError(
            "the rendered template is not a mapping of sections (Resources, Outputs, ...)",
            file=file,
        )
    return document


def _parse_yaml(text: str, file: str) -> Any:
    try:
        return yaml.load(text, Loader=_CloudFormationLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(part for part in (exc.context, exc.problem) if part)
        raise RenderError(
            f"the rendered template is not valid YAML: {problem}",
            file=file,
            line=mark.line + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise RenderError(f"the rendered template is not valid YAML: {exc}", file=file) from None


def _parse_json(text: str, file: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                raise ValueError(f"duplicate key {key!r}")
            result[key] = value
        return result

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise RenderError(
            f"the rendered template is not valid JSON: {exc.msg}", file=file, line=exc.lineno
        ) from None
    except ValueError as exc:
        raise RenderError(f"the rendered template is not valid JSON: {exc}", file=file) from None
