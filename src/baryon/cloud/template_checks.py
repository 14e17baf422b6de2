"""The local cloud refuses invalid templates at once, in CloudFormation's own words.

AWS answers CreateStack, UpdateStack, CreateChangeSet and ValidateTemplate with a 400
ValidationError ("Template format error: ...", "Template error: ...") before it creates
anything. moto accepts many such templates and fails half-way, often with an HTTP 500 on a
later request, so a deployment would wait for its timeout instead of failing with AWS's
reason. Every template body passes through `check_template` before moto sees it.

Checked, in the order AWS reports them: well-formed JSON/YAML, a Resources block whose
entries have a Type that CloudFormation (or moto) knows, intrinsic functions with the
arguments they require, references (Ref, Fn::GetAtt, Fn::Sub names, DependsOn) that
resolve, Fn::GetAtt attributes the type offers, and no circular dependency.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

import yaml

from baryon.cloud import resource_schemas

_schema_lock = threading.Lock()
_SUB_NAME = re.compile(r"\$\{(?!!)([^}]*)\}")
PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::AccountId",
        "AWS::NotificationARNs",
        "AWS::NoValue",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackId",
        "AWS::StackName",
        "AWS::URLSuffix",
    }
)


class TemplateError(ValueError):
    """A template CloudFormation refuses; the message is AWS's text."""


class _Via(StrEnum):
    """How a template names another entry; each has its own AWS text when the name is unknown."""

    REF = "Ref"  # a resource or a parameter
    GETATT = "Fn::GetAtt"  # a resource only ("references undefined resource")
    DEPENDS_ON = "DependsOn"  # a resource only


# --- Reading ---------------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !GetAtt, !Sub, ...) as long forms."""


def _short_form(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {key: value}


_CfnLoader.add_multi_constructor("!", _short_form)
# Timestamps stay strings (a template's "2010-09-09" is a version, not a date).
_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_template(body: str) -> Any:
    """The template as data, as CloudFormation reads it: JSON when it starts with '{'."""
    if body.lstrip().startswith("{"):
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise TemplateError(
                f"Template format error: JSON not well-formed. (line {exc.lineno}, "
                f"column {exc.colno})"
            ) from exc
    try:
        return yaml.load(body, Loader=_CfnLoader)  # a SafeLoader with short forms
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise TemplateError(f"Template format error: YAML not well-formed.{where}") from exc
    except yaml.YAMLError as exc:
        raise TemplateError("Template format error: YAML not well-formed.") from exc


def parse_template(body: str) -> Any:
    """The template as data; None when it is not well-formed (`read_template` says why)."""
    try:
        return read_template(body)
    except TemplateError:
        return None


# --- Checking --------------------------------------------------------------------------------


def check_template(template: Any, region: str = resource_schemas.DEFAULT_REGION) -> None:
    """Raises TemplateError with CloudFormation's text for the first problem AWS would report."""
    if not isinstance(template, dict):
        raise TemplateError("Template format error: unsupported structure.")
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise TemplateError("Template format error: At least one Resources member must be defined.")
    _check_types(resources, region)
    _check_intrinsics(template)
    _check_getatt_targets(template, region)
    found = unresolved_references(template)
    if found:
        raise TemplateError(rejection_message(found))
    _check_cycles(resources)


def _check_types(resources: Mapping[str, Any], region: str) -> None:
    unknown: list[str] = []
    for entry in resources.values():
        if not isinstance(entry, dict) or not isinstance(entry.get("Type"), str):
            raise TemplateError(
                "Template format error: Every Resources object must contain a Type member."
            )
        kind = entry["Type"]
        if not _known_type(kind, region) and kind not in unknown:
            unknown.append(kind)
    if unknown:
        raise TemplateError(
            f"Template format error: Unrecognized resource types: [{', '.join(unknown)}]"
        )


def _known_type(kind: str, region: str) -> bool:
    if kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource":
        return True
    if resource_schemas.resource_type(kind, region) is not None:
        return True
    from moto.cloudformation.parsing import get_model_map

    return kind in get_model_map()


@dataclass(frozen=True)
class _Arity:
    """What an intrinsic function's argument must look like, and AWS's text when it does not."""

    accepts: Callable[[Any], bool]
    message: str


def _list_of(*lengths: int) -> Callable[[Any], bool]:
    return lambda argument: isinstance(argument, list) and len(argument) in lengths


def _getatt_ok(argument: Any) -> bool:
    if isinstance(argument, str):
        return "." in argument.strip(".")
    return (
        isinstance(argument, list)
        and len(argument) == 2
        and isinstance(argument[0], str)
        and bool(argument[0])
        and (isinstance(argument[1], dict) or bool(argument[1]))
    )


def _sub_ok(argument: Any) -> bool:
    if isinstance(argument, str):
        return True
    return (
        isinstance(argument, list)
        and len(argument) == 2
        and isinstance(argument[0], str)
        and isinstance(argument[1], dict)
    )


_ARITIES: Mapping[str, _Arity] = {
    "Fn::GetAtt": _Arity(
        _getatt_ok,
        "Template error: every Fn::GetAtt object requires two non-empty parameters, the "
        "resource name and the resource attribute",
    ),
    "Fn::Join": _Arity(
        lambda a: _list_of(2)(a) and isinstance(a[0], str),
        "Template error: every Fn::Join object requires two parameters, (1) a string delimiter "
        "and (2) a list of strings to be joined or a function that returns a list of strings "
        "(such as Fn::GetAZs) to be joined.",
    ),
    "Fn::Select": _Arity(
        _list_of(2),
        "Template error: Fn::Select requires a list argument with two elements: an integer "
        "index and a list",
    ),
    "Fn::Split": _Arity(
        lambda a: _list_of(2)(a) and isinstance(a[0], str),
        "Template error: every Fn::Split object requires two parameters, (1) a string "
        "delimiter and (2) a string to be split or a function that returns a string to be "
        "split.",
    ),
    "Fn::If": _Arity(
        lambda a: _list_of(3)(a) and isinstance(a[0], str),
        "Template error: Fn::If requires a list argument with three elements",
    ),
    "Fn::FindInMap": _Arity(
        _list_of(3, 4),
        "Template error: every Fn::FindInMap object requires three parameters, the map name, "
        "map key and the attribute for return value",
    ),
    "Fn::Sub": _Arity(
        _sub_ok,
        "Template error: One or more Fn::Sub intrinsic functions don't specify expected "
        "arguments. Specify a string as first argument, and an optional second argument to "
        "specify a mapping of values to replace in the string",
    ),
    "Fn::Cidr": _Arity(
        _list_of(3),
        "Template error: Fn::Cidr requires a list argument with three elements: an ipBlock, "
        "a count and a cidrBits",
    ),
    "Ref": _Arity(
        lambda a: isinstance(a, str) and bool(a),
        "Template format error: Every Ref object must have a single String value.",
    ),
}


def _check_intrinsics(template: Mapping[str, Any]) -> None:
    for block in ("Resources", "Outputs", "Conditions"):
        for key, argument in _intrinsics(template.get(block)):
            arity = _ARITIES.get(key)
            if arity is not None and not arity.accepts(argument):
                raise TemplateError(arity.message)
            if key == "Fn::If" and argument[0] not in (template.get("Conditions") or {}):
                raise TemplateError(
                    f"Template error: unresolved condition dependency {argument[0]} in Fn::If"
                )


def _intrinsics(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, list):
        for item in value:
            yield from _intrinsics(item)
    elif isinstance(value, dict):
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                yield key, argument
        for item in value.values():
            yield from _intrinsics(item)


def _getatts(value: Any) -> Iterator[tuple[str, str]]:
    """(resource, attribute) for every Fn::GetAtt and every dotted Fn::Sub name."""
    for key, argument in _intrinsics(value):
        if key == "Fn::GetAtt":
            if isinstance(argument, str):
                argument = argument.split(".", 1)
            if isinstance(argument[1], str):
                yield argument[0], argument[1]
        elif key == "Fn::Sub":
            text = argument[0] if isinstance(argument, list) else argument
            variables = argument[1] if isinstance(argument, list) else {}
            for name in _SUB_NAME.findall(text):
                name = name.strip()
                if "." in name and name not in variables:
                    resource, attribute = name.split(".", 1)
                    yield resource, attribute


def _check_getatt_targets(template: Mapping[str, Any], region: str) -> None:
    resources: Mapping[str, Any] = template["Resources"]
    for block in ("Resources", "Outputs"):
        for name, attribute in _getatts(template.get(block)):
            if name not in resources:
                raise TemplateError(
                    f"Template error: instance of Fn::GetAtt references undefined resource {name}"
                )
            if not _offers(resources[name]["Type"], attribute, region):
                raise TemplateError(
                    f"Template error: resource {name} does not support attribute type "
                    f"{attribute} in Fn::GetAtt"
                )


def _offers(kind: str, attribute: str, region: str) -> bool:
    if kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource":
        return True  # a custom resource answers whatever its provider returns
    if resource_schemas.resource_type(kind, region) is None:
        return True  # moto's own model, without a published schema: moto judges
    # cfn-lint derives what Fn::GetAtt may name from the schema as CloudFormation does (every
    # property of a fully mutable type, not only the read-only ones); a name may be a pattern
    # ("Outputs\\..*" for a nested stack).
    patterns = _getatt_patterns(kind, region)
    return any(re.fullmatch(pattern, attribute) for pattern in patterns)


@cache
def _getatt_patterns(kind: str, region: str) -> tuple[str, ...]:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # type: ignore[import-untyped]

    with _schema_lock:  # cfn-lint's schema cache is not made for threads
        return tuple(PROVIDER_SCHEMA_MANAGER.get_type_getatts(kind, region))


def _check_cycles(resources: Mapping[str, Any]) -> None:
    edges = {name: _dependencies(entry, resources) for name, entry in resources.items()}
    cycle = next((sorted([name]) for name, targets in edges.items() if name in targets), None)
    cycle = cycle or _first_cycle(edges)
    if cycle:
        raise TemplateError(f"Circular dependency between resources: [{', '.join(cycle)}]")


def _dependencies(entry: Mapping[str, Any], resources: Mapping[str, Any]) -> list[str]:
    return sorted({target for target, _ in _references_in(entry, True) if target in resources})


def _first_cycle(edges: Mapping[str, list[str]]) -> list[str]:
    """The resources of the first strongly connected group larger than one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in edges:
        if node not in index:
            visit(node)
    return groups[0] if groups else []


# --- References ------------------------------------------------------------------------------


def unresolved_references(template: Any) -> dict[str, list[str]]:
    """Names referenced but not defined, by block ("Resources", "Outputs"); empty if none."""
    if not isinstance(template, dict) or "Transform" in template:
        return {}
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        return {}
    parameters = template.get("Parameters")
    names = set(resources) | (set(parameters) if isinstance(parameters, dict) else set())
    found: dict[str, list[str]] = {}
    for block in ("Resources", "Outputs"):
        section = template.get(block)
        if not isinstance(section, dict):
            continue
        missing: list[str] = []
        for entry in section.values():
            for target, via in _references_in(entry, block == "Resources"):
                if via is _Via.GETATT:
                    continue  # `_check_getatt_targets` words these
                known = target in resources if via is _Via.DEPENDS_ON else target in names
                if not known and target not in PSEUDO_PARAMETERS and target not in missing:
                    missing.append(target)
        if missing:
            found[block] = missing
    return found


def rejection_message(found: dict[str, list[str]]) -> str:
    """CloudFormation's wording, for the first block with a problem."""
    block, names = next(iter(found.items()))
    return (
        f"Template format error: Unresolved resource dependencies [{', '.join(names)}] in the "
        f"{block} block of the template"
    )


def _references_in(entry: Any, resources_block: bool) -> Iterator[tuple[str, _Via]]:
    """(name, how) for every reference in one Resources or Outputs entry."""
    if not isinstance(entry, dict):
        return
    if resources_block:
        depends = entry.get("DependsOn")
        for name in [depends] if isinstance(depends, str) else depends or []:
            if isinstance(name, str):
                yield name, _Via.DEPENDS_ON
    yield from _walk(entry)


def _walk(value: Any) -> Iterator[tuple[str, _Via]]:
    if isinstance(value, list):
        for item in value:
            yield from _walk(item)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref" and isinstance(argument, str):
            yield argument, _Via.REF
            return
        if key == "Fn::GetAtt":
            target = argument.split(".", 1)[0] if isinstance(argument, str) else None
            if isinstance(argument, list) and argument and isinstance(argument[0], str):
                target = argument[0]
            if target:
                yield target, _Via.GETATT
            yield from _walk(argument)
            return
        if key == "Fn::Sub":
            yield from _sub_names(argument)
            return
    for item in value.values():
        yield from _walk(item)


def _sub_names(argument: Any) -> Iterator[tuple[str, _Via]]:
    text, variables = argument, {}
    if isinstance(argument, list) and argument:
        text = argument[0]
        variables = argument[1] if len(argument) > 1 and isinstance(argument[1], dict) else {}
        yield from _walk(variables)
    if not isinstance(text, str):
        return
    for name in _SUB_NAME.findall(text):
        name = name.strip()
        if name in variables:
            continue
        if "." in name:
            yield name.split(".", 1)[0], _Via.GETATT
        else:
            yield name, _Via.REF
