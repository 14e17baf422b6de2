"""A template bundle recovered from deployed stacks, for a version whose bundle is lost.

Proton never gave bundles back; CloudFormation still answers GetTemplate with what each stack
runs (reference proton-migration.md 3.2). A recovered version's CloudFormation file is that
deployed text, escaped so that Jinja copies it as it is, one copy per resource that runs the
version, chosen by the resource's names: rendering it for one of those resources gives back
exactly its stack's template, so the resource can be redeployed, updated in place and later
moved to a real version. Rendered for any other resource it gives a template without
resources, which CloudFormation refuses: a recovered version is no template for new ones.

The schema is the version's own when the export has it (Proton returned it), else one that
accepts what the resources' specs hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from baryon.bundles.checks import json_type
from baryon.service_models.proton import TemplateType

SCHEMA_FILE = "schema/schema.yaml"
TEMPLATE_FILE = "cloudformation.yaml"
_MANIFEST = """\
infrastructure:
  templates:
    - file: "{file}"
      rendering_engine: jinja
      template_language: cloudformation
"""
# The Jinja names each section's resources are told apart by (render/context.py).
_SELECTORS = {
    "infrastructure": ("environment.name",),
    "instance_infrastructure": ("service.name", "service_instance.name"),
    "pipeline_infrastructure": ("service.name",),
}
_OPEN = "{%"
_INPUT_TYPES = {
    "infrastructure": "environment_input_type",
    "instance_infrastructure": "service_input_type",
    "pipeline_infrastructure": "pipeline_input_type",
}


@dataclass(frozen=True)
class DeployedTemplate:
    """What one resource's stack runs: the resource's names (as the section's selectors
    read them), its stack and the template text."""

    names: tuple[str, ...]
    stack_name: str
    text: str


def escape_jinja(text: str) -> str:
    """``text`` as a Jinja template that renders to ``text``, byte for byte: one raw block,
    broken wherever a ``{%`` could close it early."""
    pieces = text.split(_OPEN)
    escaped = "{% endraw %}{{ '{%' }}{% raw %}".join(pieces)
    return "{% raw %}" + escaped + "{% endraw %}"


def section_template(folder: str, deployed: Sequence[DeployedTemplate], note: str) -> str:
    """The CloudFormation file of one IaC folder: each resource's deployed text under a test
    of its names."""
    selectors = _SELECTORS[folder]
    branches: list[str] = []
    for item in deployed:
        if len(item.names) != len(selectors):
            raise ValueError(f"{folder} resources are told apart by {len(selectors)} names")
        test = " and ".join(
            f"{selector} == {json.dumps(name)}"
            for selector, name in zip(selectors, item.names, strict=True)
        )
        keyword = "if" if not branches else "elif"
        branches.append(f"{{% {keyword} {test} %}}{escape_jinja(item.text)}")
    fallback = f"# {note}\nDescription: {json.dumps(note)}\n"
    if not branches:
        return fallback
    return "".join(branches) + "{% else %}" + fallback + "{% endif %}"


def recovered_bundle_files(
    kind: TemplateType,
    schema_text: str,
    sections: Mapping[str, Sequence[DeployedTemplate]],
    note: str,
) -> dict[str, bytes]:
    """The files of the recovered bundle: the schema, and each IaC folder of ``sections``
    (folder -> deployed templates; a folder may have none)."""
    wanted = (
        {"infrastructure"}
        if kind == TemplateType.ENVIRONMENT
        else {
            "instance_infrastructure",
            "pipeline_infrastructure",
        }
    )
    files = {SCHEMA_FILE: schema_text.encode()}
    for folder, deployed in sections.items():
        if folder not in wanted:
            raise ValueError(f"{folder}/ has no place in a {kind.lower()} template bundle")
        files[f"{folder}/manifest.yaml"] = _MANIFEST.format(
            folder=folder, file=TEMPLATE_FILE
        ).encode()
        files[f"{folder}/{TEMPLATE_FILE}"] = section_template(folder, deployed, note).encode()
    return files


def inferred_schema(inputs: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """A schema accepting the given inputs, for a version the export has no schema of:
    folder -> the inputs each of its resources' specs holds. Every input is optional and
    typed by the values seen (untyped when they disagree)."""
    types: dict[str, Any] = {}
    header: dict[str, Any] = {"format": {"openapi": "3.0.0"}}
    for folder, specs in inputs.items():
        name = "Recovered" + "".join(part.capitalize() for part in folder.split("_")) + "Input"
        header[_INPUT_TYPES[folder]] = name
        properties: dict[str, Any] = {}
        for spec in specs:
            for key, value in spec.items():
                seen = {"type": _schema_type(value)}
                properties[key] = seen if properties.get(key, seen) == seen else {}
        types[name] = {
            "type": "object",
            "description": "Recovered by baryon import from the specs of deployed resources",
            "properties": properties,
        }
    header["types"] = types
    return yaml.safe_dump({"schema": header}, sort_keys=False)


# What json_type names that a schema property can be; anything else (null, a YAML date) is
# recovered as a string.
_SCHEMA_TYPES = frozenset({"boolean", "integer", "number", "array", "object", "string"})


def _schema_type(value: Any) -> str:
    kind = json_type(value)
    return kind if kind in _SCHEMA_TYPES else "string"
