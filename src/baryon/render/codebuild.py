"""CodeBuild bundles: the inputs file and the plan a CodeBuild provisioner runs.

Proton writes the resource's inputs next to the bundle's files, as ``proton-inputs.json``
(``input_type: JSON``, the default) or as a Terraform ``.tfvars`` file (``input_type:
HCL``), with the same blocks as the Terraform tfvars file (reference 4.5) but no
``proton_tags`` and no ``"//"``. ``project_properties`` may hold Jinja (the user guide's
VpcConfig example) and is rendered with the resource's namespace; the provision and
deprovision commands are shell, passed through unchanged (``{{`` is common in shell, e.g.
``docker inspect --format '{{.Id}}'``, and Proton documents no templating for them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from baryon.bundles.manifest import CodeBuildSettings, InputType
from baryon.render.errors import RenderError
from baryon.render.hcl import hcl_tfvars
from baryon.render.inputs_document import infer_kind, inputs_document
from baryon.render.jackson_json import jackson_dumps
from baryon.render.jinja import check_template, render_text
from baryon.render.limits import DEFAULT_LIMITS, RenderLimits
from baryon.render.values import child_path

JSON_INPUTS_FILE = "proton-inputs.json"
HCL_INPUTS_FILE = "proton-inputs.tfvars"  # Proton documents only the extension
# A value that is one expression and nothing else keeps its type: the user guide's
# `Subnets: "{{ environment.inputs.codebuild_subnets }}"` must become a list.
_SOLE_EXPRESSION = re.compile(r"\s*\{\{(?P<expression>(?:(?!\{\{|\}\}|\{%|\{#).)*)\}\}\s*\Z", re.S)


@dataclass(frozen=True)
class CodeBuildPlan:
    provision: list[str]
    deprovision: list[str]
    inputs_file: str
    image: str | None = None
    runtimes: dict[str, Any] = field(default_factory=dict)
    env_variables: dict[str, Any] = field(default_factory=dict)
    env_secrets_manager: dict[str, str] = field(default_factory=dict)
    project_properties: dict[str, Any] = field(default_factory=dict)


def proton_inputs_json(namespace: Mapping[str, Any]) -> str:
    return jackson_dumps(inputs_document(infer_kind(namespace), namespace))


def proton_inputs_tfvars(namespace: Mapping[str, Any]) -> str:
    return hcl_tfvars(inputs_document(infer_kind(namespace), namespace))


def inputs_file(input_type: InputType | None) -> str:
    return HCL_INPUTS_FILE if input_type == "HCL" else JSON_INPUTS_FILE


def render_inputs_file(namespace: Mapping[str, Any], input_type: InputType | None) -> str:
    if input_type == "HCL":
        return proton_inputs_tfvars(namespace)
    return proton_inputs_json(namespace)


def codebuild_plan(
    settings: CodeBuildSettings,
    namespace: Mapping[str, Any],
    *,
    input_type: InputType | None,
    manifest_file: str,
    limits: RenderLimits = DEFAULT_LIMITS,
) -> CodeBuildPlan:
    return CodeBuildPlan(
        provision=list(settings.provision),
        deprovision=list(settings.deprovision),
        inputs_file=inputs_file(input_type),
        image=settings.image,
        runtimes=dict(settings.runtimes),
        env_variables=dict(settings.env_variables),
        env_secrets_manager=dict(settings.env_secrets_manager),
        project_properties=render_project_properties(
            settings.project_properties, namespace, file=manifest_file, limits=limits
        ),
    )


def render_project_properties(
    properties: Mapping[str, Any],
    namespace: Mapping[str, Any],
    *,
    file: str,
    limits: RenderLimits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    rendered = _render_value(properties, namespace, file, "project_properties", limits)
    assert isinstance(rendered, dict)
    return rendered


def _render_value(
    value: Any, namespace: Mapping[str, Any], file: str, path: str, limits: RenderLimits
) -> Any:
    if isinstance(value, Mapping):
        return {
            key: _render_value(item, namespace, file, child_path(path, key), limits)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _render_value(item, namespace, file, child_path(path, index), limits)
            for index, item in enumerate(value)
        ]
    template = _template(value)
    if template is None:
        return value
    text, typed = template
    try:
        rendered = render_text(text, namespace, file=file, limits=limits)
    except RenderError as exc:
        raise RenderError(f"{path}: {exc.reason}", file=file) from None
    return json.loads(rendered) if typed else rendered


def _template(value: Any) -> tuple[str, bool] | None:
    """The Jinja text a project property renders through, and whether its result is JSON
    (a sole expression keeps its type); None for a value that is not templated."""
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return None
    sole = _SOLE_EXPRESSION.match(value)
    if sole:
        # Render through tojson, inside the same sandbox, and read the value back.
        return "{{ (" + sole.group("expression") + ") | tojson }}", True
    return value, False


def check_project_properties(
    properties: Mapping[str, Any], *, file: str, limits: RenderLimits = DEFAULT_LIMITS
) -> None:
    """Compile every templated project property as rendering would; RenderError if one
    cannot compile (registration calls this, so that the error comes before a deployment)."""
    _check_value(properties, file, "project_properties", limits)


def _check_value(value: Any, file: str, path: str, limits: RenderLimits) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_value(item, file, child_path(path, key), limits)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, file, child_path(path, index), limits)
    else:
        template = _template(value)
        if template is None:
            return
        try:
            check_template(template[0], file=file, limits=limits)
        except RenderError as exc:
            raise RenderError(f"{path}: {exc.reason}", file=file) from None
