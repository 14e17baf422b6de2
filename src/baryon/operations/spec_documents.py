"""Spec documents as a front door writes and reads them, through the domain's own spec rules
(domain/specs.py): the one place that parses and dumps a spec, so the portal's forms and the
API cannot drift apart on what a spec is.

Also what a form needs to show a version's schema and to check values against it before the
spec is sent (the domain's check, domain/specs.input_problems); the problems come back as data
(``SpecProblem.path``), never as text to parse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baryon.domain import specs
from baryon.domain.errors import InvalidInput
from baryon.domain.specs import (
    CURRENT_VALUE,
    PatternMismatch,
    ServiceSpecDocument,
    input_path,
    input_problems,
)
from baryon.domain.versions import VersionSchema, referenced_type

__all__ = [
    "CURRENT_VALUE",
    "PatternMismatch",
    "VersionSchema",
    "environment_inputs",
    "environment_spec",
    "input_path",
    "input_problems",
    "instance_inputs",
    "pipeline_inputs",
    "referenced_type",
    "service_spec",
    "with_instance_inputs",
    "with_pipeline_inputs",
]


# --- writing --------------------------------------------------------------------------------


def environment_spec(values: Mapping[str, Any]) -> str:
    data: dict[str, Any] = {"proton": specs.ENVIRONMENT_SPEC}
    if values:
        data["spec"] = dict(values)
    return specs.dump(data)


def service_spec(
    pipeline: Mapping[str, Any] | None, instances: list[tuple[str, str, Mapping[str, Any]]]
) -> str:
    """A ServiceSpec from (name, environment, inputs) per instance."""
    data: dict[str, Any] = {"proton": specs.SERVICE_SPEC}
    if pipeline is not None:
        data["pipeline"] = dict(pipeline)
    data["instances"] = [
        {"name": name, "environment": environment, "spec": dict(inputs)}
        for name, environment, inputs in instances
    ]
    return specs.dump(data)


def with_instance_inputs(spec_text: str | None, instance: str, inputs: Mapping[str, Any]) -> str:
    """The service spec with one instance's ``spec:`` replaced (the others untouched)."""
    document = _service_document(spec_text)
    data = _service_data(document)
    for entry in data["instances"]:
        if entry["name"] == instance:
            entry["spec"] = dict(inputs)
            break
    return specs.dump(data)


def with_pipeline_inputs(spec_text: str | None, inputs: Mapping[str, Any]) -> str:
    data = _service_data(_service_document(spec_text))
    data["pipeline"] = dict(inputs)
    return specs.dump({key: data[key] for key in ("proton", "pipeline", "instances")})


def _service_data(document: ServiceSpecDocument | None) -> dict[str, Any]:
    data: dict[str, Any] = {"proton": specs.SERVICE_SPEC}
    if document is None:
        data["instances"] = []
        return data
    if document.has_pipeline_key:
        data["pipeline"] = document.pipeline
    data["instances"] = [
        {
            "name": entry.name,
            "environment": entry.environment,
            **({"spec": entry.spec} if entry.spec is not None else {}),
        }
        for entry in document.instances
    ]
    return data


# --- reading (a stored spec, to fill a form; None when it cannot be read) ------------------


def _service_document(spec_text: str | None) -> ServiceSpecDocument | None:
    if not spec_text:
        return None
    try:
        return specs.parse_service_spec(spec_text)
    except InvalidInput:
        return None


def instance_inputs(spec_text: str | None, instance: str) -> dict[str, Any] | None:
    document = _service_document(spec_text)
    for entry in document.instances if document else []:
        if entry.name == instance:
            return entry.spec or {}
    return None


def pipeline_inputs(spec_text: str | None) -> dict[str, Any] | None:
    document = _service_document(spec_text)
    return document.pipeline if document else None


def environment_inputs(spec_text: str | None) -> dict[str, Any] | None:
    if not spec_text:
        return None
    try:
        return specs.parse_environment_spec(spec_text)
    except InvalidInput:
        return None
