"""The local cloud refuses templates whose references cannot resolve, as CloudFormation does.

AWS answers CreateStack and UpdateStack with "Template format error: Unresolved resource
dependencies [X] in the Outputs block of the template" before it creates anything. moto
accepts such a template, then fails on every DescribeStacks with a 500, so a deployment
would wait until its timeout instead of failing at once with AWS's reason.

Checked: ``Ref``, ``Fn::GetAtt``, the ``${...}`` names of ``Fn::Sub`` and ``DependsOn`` in the
Resources and Outputs blocks, against the template's resources, parameters and AWS's
pseudo parameters. A template with a ``Transform`` (SAM, macros) is left alone: the
transform adds resources that the template does not show.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import yaml

_SUB_NAME = re.compile(r"\$\{(?!!)([^}]*)\}")


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


def parse_template(body: str) -> Any:
    """The template as data; None when it is neither JSON nor YAML (moto will say why)."""
    try:
        return json.loads(body)
    except ValueError:
        pass
    try:
        return yaml.load(body, Loader=_CfnLoader)  # a SafeLoader with short forms
    except yaml.YAMLError:
        return None


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
        for target, is_resource_only in _references(section, block == "Resources"):
            known = target in resources if is_resource_only else target in names
            if not known and not target.startswith("AWS::") and target not in missing:
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


def _references(section: dict[str, Any], resources_block: bool) -> Iterator[tuple[str, bool]]:
    """(name, must it be a resource) for every reference in a block."""
    for entry in section.values():
        if not isinstance(entry, dict):
            continue
        if resources_block:
            depends = entry.get("DependsOn")
            for name in [depends] if isinstance(depends, str) else depends or []:
                if isinstance(name, str):
                    yield name, True
        yield from _walk(entry)


def _walk(value: Any) -> Iterator[tuple[str, bool]]:
    if isinstance(value, list):
        for item in value:
            yield from _walk(item)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref" and isinstance(argument, str):
            yield argument, False
            return
        if key == "Fn::GetAtt":
            target = argument.split(".", 1)[0] if isinstance(argument, str) else None
            if isinstance(argument, list) and argument and isinstance(argument[0], str):
                target = argument[0]
            if target:
                yield target, True
            yield from _walk(argument)
            return
        if key == "Fn::Sub":
            yield from _sub_names(argument)
            return
    for item in value.values():
        yield from _walk(item)


def _sub_names(argument: Any) -> Iterator[tuple[str, bool]]:
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
            yield name.split(".", 1)[0], True
        else:
            yield name, False


# --- In the local cloud's process --------------------------------------------------------------

_install_lock = threading.Lock()
_installed: list[bool] = []


def install() -> None:
    """Checks every CreateStack and UpdateStack template body before moto sees it."""
    from moto.cloudformation.responses import CloudFormationResponse as Response

    with _install_lock:
        if _installed:
            return
        _installed.append(True)
        create, update = Response.create_stack, Response.update_stack

        def checked_create(self: Any) -> Any:
            _check(self)
            return create(self)

        def checked_update(self: Any) -> Any:
            _check(self)
            return update(self)

        Response.create_stack = checked_create
        Response.update_stack = checked_update


def _check(response: Any) -> None:
    from moto.cloudformation.exceptions import ValidationError

    body = response._get_param("TemplateBody")
    if not body:
        return  # TemplateURL or UsePreviousTemplate: moto reads those itself
    found = unresolved_references(parse_template(body))
    if found:
        raise ValidationError(message=rejection_message(found))
