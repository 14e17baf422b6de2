"""What moto's CloudFormation sees: a template read and resolved as AWS reads and resolves it.

moto reads templates with its own YAML loader (which mis-reads the multi-line ``!GetAtt``
list form), leaves scalars as written where AWS converts them to the type the resource
schema states (``DesiredCount: '1'``), resolves some intrinsic functions wrongly or not at
all (``Fn::GetAZs`` of ``{Ref: AWS::Region}``, ``Fn::Cidr``, ``Fn::Select`` of a computed
index, ``AWS::NoValue`` inside lists), and generates physical names AWS never would (an ECR
repository named with capitals). Each is fixed where moto takes the template in:

* `normalize` turns the text into the template moto resolves (SAM expanded, scalars coerced,
  an all-protocols ingress rule given the ports moto's model requires); the stack keeps the
  text it was given, so GetTemplate still answers the user's template;
* `install` routes moto's template reading through `normalize`, wraps its intrinsic function
  resolver for the functions above, and has it generate names AWS's rules allow.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from baryon.cloud import resource_schemas, sam
from baryon.cloud.patching import installs_once
from baryon.cloud.template_checks import read_template

_ALL_PROTOCOLS = ("-1", "all")
_INGRESS_TYPES = ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
_SUB_NAME = re.compile(r"\$\{([^}]*)\}")


# --- The template moto resolves --------------------------------------------------------------


def normalize(template: Any, region: str, parameters: Mapping[str, Any] | None = None) -> Any:
    """A copy of the parsed template in the form moto resolves correctly."""
    if not isinstance(template, dict):
        return template
    if sam.declares_sam(template):
        template = sam.expand(copy.deepcopy(template), region, dict(parameters or {}))
    else:
        template = copy.deepcopy(template)
    resources = template.get("Resources")
    if isinstance(resources, dict):
        for entry in resources.values():
            if isinstance(entry, dict) and isinstance(entry.get("Properties"), dict):
                _normalize_resource(entry, region)
    return template


def normalized_text(body: str, region: str) -> Any:
    return normalize(read_template(body), region)


def _normalize_resource(entry: dict[str, Any], region: str) -> None:
    kind = entry.get("Type")
    properties: dict[str, Any] = entry["Properties"]
    described = resource_schemas.resource_type(kind, region) if isinstance(kind, str) else None
    if described is not None:
        for name in list(properties):
            properties[name] = _coerced(properties[name], described, (name,))
    if kind in _INGRESS_TYPES:
        _give_ports(properties)
    elif kind == "AWS::EC2::SecurityGroup":
        for block in ("SecurityGroupIngress", "SecurityGroupEgress"):
            for rule in properties.get(block) or []:
                if isinstance(rule, dict):
                    _give_ports(rule)


def _coerced(value: Any, described: resource_schemas.ResourceType, path: tuple[str, ...]) -> Any:
    """A literal scalar converted to the type the schema states, as AWS converts it."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
            return value  # an intrinsic: resolved later
        return {key: _coerced(item, described, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_coerced(item, described, (*path, "*")) for item in value]
    schema = described.property_schema(path)
    wanted = schema.get("type") if schema is not None else None
    return _as_type(value, wanted) if isinstance(wanted, str) else value


def _as_type(value: Any, wanted: str) -> Any:
    if isinstance(value, bool):
        return ("true" if value else "false") if wanted == "string" else value
    if wanted == "string" and isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        return value
    text = value.strip()
    if wanted == "integer" and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if wanted == "number" and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        number = float(text)
        return int(number) if number.is_integer() and "." not in text else number
    if wanted == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return value


def _give_ports(rule: dict[str, Any]) -> None:
    """AWS ignores ports for all protocols; moto's model reads them, so -1 (any) is given."""
    if str(rule.get("IpProtocol")).lower() in _ALL_PROTOCOLS:
        rule.setdefault("FromPort", -1)
        rule.setdefault("ToPort", -1)


# --- Inside moto -----------------------------------------------------------------------------

Clean = Callable[[Any, Any], Any]


@installs_once
def install() -> None:
    """Routes moto's template reading, intrinsic resolution and name generation through here."""
    from moto.cloudformation import models, parsing

    def parse_stack_template(self: Any) -> None:
        self.template_dict = normalized_text(self.template, _region_of(self.stack_id))

    def parse_change_set_template(self: Any) -> None:
        self.template_dict = normalized_text(self.template, _region_of(self.stack_id))

    reread = staticmethod(lambda text: normalized_text(text, resource_schemas.DEFAULT_REGION))
    setattr(models.Stack, "_parse_template", parse_stack_template)  # noqa: B010
    setattr(models.Stack, "parse_template", reread)  # noqa: B010
    setattr(models.ChangeSet, "_parse_template", parse_change_set_template)  # noqa: B010
    setattr(parsing, "clean_json", _resolver(parsing.clean_json))  # noqa: B010
    setattr(parsing, "generate_resource_name", _namer(parsing.generate_resource_name))  # noqa: B010


def _region_of(stack_id: str) -> str:
    parts = stack_id.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else resource_schemas.DEFAULT_REGION


def _resolver(original: Clean) -> Clean:
    """moto's clean_json, with the intrinsic functions it lacks or gets wrong done here.

    moto's function calls itself through the module attribute, so nested values come back
    through this wrapper too."""

    def clean_json(value: Any, resources: Any) -> Any:
        if isinstance(value, list):
            return [
                cleaned
                for item in value
                if not ((cleaned := clean_json(item, resources)) is None and isinstance(item, dict))
            ]
        if isinstance(value, dict) and len(value) == 1:
            ((key, argument),) = value.items()
            handler = _FUNCTIONS.get(key)
            if handler is not None:
                return handler(argument, resources, clean_json)
        return original(value, resources)

    return clean_json


def _get_azs(argument: Any, resources: Any, clean: Clean) -> list[str]:
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    region = clean(argument, resources) or resources["AWS::Region"]
    zones = RegionsAndZonesBackend.zones.get(str(region)) or []
    return [zone.name for zone in zones]


def _cidr(argument: Any, resources: Any, clean: Clean) -> list[str]:
    block, count, bits = (clean(item, resources) for item in argument)
    network = ipaddress.ip_network(str(block), strict=False)
    prefix = network.max_prefixlen - int(bits)
    subnets = network.subnets(new_prefix=prefix)
    return [str(next(subnets)) for _ in range(int(count))]


def _select(argument: Any, resources: Any, clean: Clean) -> Any:
    index, items = (clean(item, resources) for item in argument)
    return items[int(index)]


def _join(argument: Any, resources: Any, clean: Clean) -> str:
    delimiter, items = argument[0], clean(argument[1], resources)
    return str(delimiter).join(str(item) for item in items)


def _sub(argument: Any, resources: Any, clean: Clean) -> str:
    text, variables = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
    values = {name: clean(item, resources) for name, item in variables.items()}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        name = name.strip()
        if name in values:
            return str(values[name])
        if "." in name:
            resource, attribute = name.split(".", 1)
            return str(clean({"Fn::GetAtt": [resource, attribute]}, resources))
        return str(clean({"Ref": name}, resources))

    return _SUB_NAME.sub(replace, str(text))


_FUNCTIONS: Mapping[str, Callable[[Any, Any, Clean], Any]] = {
    "Fn::GetAZs": _get_azs,
    "Fn::Cidr": _cidr,
    "Fn::Select": _select,
    "Fn::Join": _join,
    "Fn::Sub": _sub,
}


def _namer(original: Callable[[str, str, str], str]) -> Callable[[str, str, str], str]:
    """moto's name generator, held to the name rules AWS's own generated names follow."""

    def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        name = original(resource_type, stack_name, logical_id)
        if resource_type == "AWS::ECR::Repository":
            # ECR refuses two separators in a row, which Proton's stack names hold ("--").
            return re.sub(r"([._-])[._-]+", r"\1", name.lower())
        if resource_type.startswith("AWS::ElasticLoadBalancingV2::"):
            return re.sub(r"-{2,}", "-", name).strip("-")[:32]
        if name == f"{stack_name}-{logical_id}-{name.rsplit('-', 1)[-1]}":
            return _within(name.rsplit("-", 1)[-1], stack_name, logical_id, _GENERATED_NAME_MAX)
        return name

    return generate_resource_name


# AWS keeps the names it generates short enough for the strictest of the types that take one
# (IAM roles and Lambda functions: 64): a long stack name is cut, never the unique suffix.
# moto writes the whole stack name, and then cuts the end off (SQS at 80), so two stacks
# whose names differ only at the end got the same queue.
_GENERATED_NAME_MAX = 64


def _within(suffix: str, stack_name: str, logical_id: str, limit: int) -> str:
    room = limit - len(suffix) - 2
    logical = logical_id[: max(room // 2, room - len(stack_name))]
    stack = stack_name[: room - len(logical)]
    return f"{stack}-{logical}-{suffix}"
