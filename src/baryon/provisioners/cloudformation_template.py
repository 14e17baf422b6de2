"""Just enough CloudFormation template reading to know which outputs and parameters a
template declares.

Templates are JSON or YAML with CloudFormation's short tags (``!Ref``, ``!GetAtt X.Y``,
``!Sub``...), which a plain YAML loader rejects. The tags become their long forms.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

# libyaml's parser where PyYAML has it (as render/cloudformation.py): each successful stack
# operation reads its template's outputs again, once per deployment of a fleet.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TemplateLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader plus CloudFormation's short tags; never constructs Python objects."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)  # !GetAtt Resource.Attribute
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {key: value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def parse_template(body: str) -> dict[str, Any] | None:
    """The template as a dict; None if it is neither JSON nor YAML (CloudFormation will say)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        try:
            parsed = yaml.load(body, Loader=_TemplateLoader)  # a SafeLoader: no Python objects
        except yaml.YAMLError:
            return None
    return parsed if isinstance(parsed, dict) else None


def declared_outputs(body: str) -> dict[str, bool] | None:
    """Output name -> whether it has a Condition (and so may rightly be absent)."""
    template = parse_template(body)
    if template is None:
        return None
    outputs = template.get("Outputs")
    if not isinstance(outputs, dict):
        return {}
    return {str(k): isinstance(v, dict) and "Condition" in v for k, v in outputs.items()}


def declared_parameters(body: str) -> frozenset[str] | None:
    """The names of the template's Parameters; None if it is neither JSON nor YAML."""
    template = parse_template(body)
    if template is None:
        return None
    parameters = template.get("Parameters")
    return frozenset(str(k) for k in parameters) if isinstance(parameters, dict) else frozenset()
