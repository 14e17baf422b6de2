"""Parses schema/schema.yaml into a TemplateSchema.

The header names the input types (environment or service, optional pipeline) and `types`
holds OpenAPI 3.0 Schema Objects. Everything is checked at registration time: every enum
value must satisfy its own property, and no number may be NaN or Infinity. A default that
does not satisfy its property is a warning, not an error, because Proton registered such
bundles (AWS published some) and passed the default through; see inputs.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from jsonschema.protocols import Validator

from baryon.bundles import checks, json_schema
from baryon.bundles.errors import BundleError, field_path
from baryon.bundles.inputs import AppliedInputs, apply_inputs, resolve_inputs
from baryon.bundles.limits import BundleLimits
from baryon.bundles.schema_objects import check_schema_object
from baryon.bundles.schema_validator import SchemaValidator
from baryon.bundles.validation_messages import describe_errors
from baryon.bundles.yaml_source import Path, YamlDocument, load_yaml

SCHEMA_FILE = "schema/schema.yaml"
OPENAPI_VERSION = "3.0.0"
_HEADER_KEYS = {
    "format",
    "environment_input_type",
    "service_input_type",
    "pipeline_input_type",
    "types",
}
InputRole = Literal["environment", "service", "pipeline"]


@dataclass(frozen=True)
class TemplateSchema:
    environment_input_type: str | None
    service_input_type: str | None
    pipeline_input_type: str | None
    types: dict[str, dict[str, Any]]  # OpenAPI Schema Objects, as written
    raw_text: str
    warnings: list[str] = field(default_factory=list)
    doc: YamlDocument | None = field(default=None, compare=False, repr=False)
    _validators: dict[str, Validator] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @property
    def kind(self) -> Literal["environment", "service"]:
        return "environment" if self.environment_input_type else "service"

    def input_types(self) -> dict[InputRole, str]:
        """The declared input types by role, e.g. {"service": "SvcInput", "pipeline": ...}."""
        roles: dict[InputRole, str | None] = {
            "environment": self.environment_input_type,
            "service": self.service_input_type,
            "pipeline": self.pipeline_input_type,
        }
        return {role: name for role, name in roles.items() if name}

    def json_schema(self, input_type_name: str) -> dict[str, Any]:
        """JSON Schema (draft 2020-12) for one input type, other types under $defs."""
        self._require_type(input_type_name)
        return json_schema.document(self.types, input_type_name)

    def validator(self, input_type_name: str) -> Validator:
        if input_type_name not in self._validators:
            self._validators[input_type_name] = SchemaValidator(
                self.json_schema(input_type_name)
            )
        return self._validators[input_type_name]

    def apply_inputs(self, input_type_name: str, values: Any, *, where: str) -> dict[str, Any]:
        """Spec values merged over schema defaults; raises SpecError listing every problem."""
        return apply_inputs(self, input_type_name, values, where=where)

    def resolve_inputs(self, input_type_name: str, values: Any, *, where: str) -> AppliedInputs:
        """As apply_inputs, and which spec keys were ignored (undeclared in the schema)."""
        return resolve_inputs(self, input_type_name, values, where=where)

    def error(self, path: Path, reason: str) -> BundleError:
        if self.doc is None:
            return BundleError(reason, file=SCHEMA_FILE)
        return self.doc.error(path, reason)

    def type_path(self, type_name: str) -> Path:
        return ("schema", "types", type_name)

    def _require_type(self, name: str) -> None:
        if name not in self.types:
            raise BundleError(f"input type {name!r} is not defined in the schema", file=SCHEMA_FILE)


def parse_schema(
    text: str, file: str = SCHEMA_FILE, *, max_bytes: int = BundleLimits.max_schema_bytes
) -> TemplateSchema:
    doc = load_yaml(text, file, max_bytes=max_bytes)
    root = checks.mapping(doc, (), doc.data, "a mapping with a 'schema' key")
    checks.no_unknown_keys(doc, (), root, {"schema"}, "top-level key")
    if "schema" not in root:
        raise doc.error((), "missing 'schema'")
    header = checks.mapping(doc, ("schema",), root["schema"])
    checks.no_unknown_keys(doc, ("schema",), header, _HEADER_KEYS, "key")
    _check_format(doc, header)
    names = _input_type_names(doc, header)
    types = _check_types(doc, header, names)
    _check_finite(doc, ("schema", "types"), types)
    warnings: list[str] = []
    nodes = [
        visited
        for name, node in types.items()
        for visited in check_schema_object(
            doc, ("schema", "types", name), node, set(types), warnings
        )
    ]
    _check_ref_cycles(doc, types)
    _check_values(doc, types, nodes, warnings)
    return TemplateSchema(
        environment_input_type=names.get("environment_input_type"),
        service_input_type=names.get("service_input_type"),
        pipeline_input_type=names.get("pipeline_input_type"),
        types=types,
        raw_text=text,
        warnings=warnings,
        doc=doc,
    )


def _check_format(doc: YamlDocument, header: dict[str, Any]) -> None:
    if "format" not in header:
        raise doc.error(
            ("schema",), f"missing 'format' (format: {{openapi: \"{OPENAPI_VERSION}\"}})"
        )
    fmt = checks.mapping(doc, ("schema", "format"), header["format"])
    checks.no_unknown_keys(doc, ("schema", "format"), fmt, {"openapi"}, "key")
    if fmt.get("openapi") != OPENAPI_VERSION:
        raise doc.error(
            ("schema", "format", "openapi"),
            f'openapi must be "{OPENAPI_VERSION}", got {checks.show(fmt.get("openapi"))}',
        )


def _input_type_names(doc: YamlDocument, header: dict[str, Any]) -> dict[str, str]:
    has_env = "environment_input_type" in header
    has_service = "service_input_type" in header
    if has_env == has_service:
        reason = "declares both" if has_env else "declares neither"
        raise doc.error(
            ("schema",),
            f"{reason} environment_input_type and service_input_type; exactly one is required",
        )
    if has_env and "pipeline_input_type" in header:
        raise doc.error(
            ("schema", "pipeline_input_type"),
            "pipeline_input_type is only allowed with service_input_type",
        )
    keys = ("environment_input_type", "service_input_type", "pipeline_input_type")
    return {key: checks.string(doc, ("schema", key), header[key]) for key in keys if key in header}


def _check_types(
    doc: YamlDocument, header: dict[str, Any], names: dict[str, str]
) -> dict[str, dict[str, Any]]:
    if "types" not in header:
        raise doc.error(("schema",), "missing 'types'")
    types = checks.mapping(doc, ("schema", "types"), header["types"])
    for name in types:
        if not isinstance(name, str) or not json_schema_safe(name):
            raise doc.error(
                ("schema", "types", name),
                f"type name {name!r} may only use letters, digits, '_', '-' and '.'",
            )
    for key, name in names.items():
        if name not in types:
            raise doc.error(("schema", key), f"{key} {name!r} is not defined under 'types'")
        node = types[name]
        if not isinstance(node, dict) or node.get("type") != "object":
            raise doc.error(
                ("schema", "types", name), f"input type {name!r} must be 'type: object'"
            )
    return types


def json_schema_safe(name: str) -> bool:
    return bool(name) and all(ch.isalnum() or ch in "_-." for ch in name) and name.isascii()


def _check_ref_cycles(doc: YamlDocument, types: dict[str, dict[str, Any]]) -> None:
    # A type that is only a $ref to a type that is only a $ref ... back to itself has no
    # meaning and would send validators into endless recursion.
    for start in types:
        seen = [start]
        node = types[start]
        while "$ref" in node:
            target = json_schema.ref_name(node["$ref"])
            if target in seen:
                chain = " -> ".join([*seen, target])
                raise doc.error(("schema", "types", start, "$ref"), f"$ref cycle: {chain}")
            seen.append(target)
            node = types[target]


def _check_finite(doc: YamlDocument, path: Path, value: Any) -> None:
    # YAML's .nan and .inf (and numbers too large for a double) are no JSON values: a NaN
    # bound or default would make every comparison pass and render as "nan".
    if isinstance(value, float) and not math.isfinite(value):
        raise doc.error(path, f"{value} is not a number a schema can use (NaN or Infinity)")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(doc, (*path, key), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_finite(doc, (*path, index), item)


def _check_values(
    doc: YamlDocument,
    types: dict[str, dict[str, Any]],
    nodes: list[tuple[Path, dict[str, Any]]],
    warnings: list[str],
) -> None:
    defs = json_schema.all_defs(types)
    for path, node in nodes:
        if "default" in node:
            # AWS published bundles whose defaults break their own property (`type: boolean`,
            # `default: public`) and Proton registered them without validating defaults, so
            # they register here too, with a warning; inputs.py passes such a default to the
            # template as written, as Proton did.
            problem = _value_problem(defs, node, node["default"], "default")
            if problem is not None:
                reason = (
                    f"{problem}; registered anyway (Proton did not check defaults), and a "
                    "spec that leaves this input out renders with the default as written"
                )
                warnings.append(str(doc.error((*path, "default"), reason)))
        if "enum" in node:
            without_enum = {key: value for key, value in node.items() if key != "enum"}
            for index, value in enumerate(node["enum"]):
                problem = _value_problem(defs, without_enum, value, "enum value")
                if problem is not None:
                    raise doc.error((*path, "enum", index), problem)


def _value_problem(defs: dict[str, Any], node: dict[str, Any], value: Any, what: str) -> str | None:
    without_default = {key: item for key, item in node.items() if key != "default"}
    schema = json_schema.value_document(without_default, defs)
    problems = describe_errors(SchemaValidator(schema).iter_errors(value))
    if not problems:
        return None
    inner, message = problems[0]
    where = f" at {field_path(inner)}" if inner else ""
    return f"{what}{where} {message}"


def check_customer_managed(schema: TemplateSchema) -> None:
    """Customer-managed environments: the inputs are outputs of infrastructure provisioned
    elsewhere, so Proton allows only string properties without defaults."""
    name = schema.environment_input_type
    if name is None:
        raise schema.error(
            ("schema",), "a customer-managed environment needs environment_input_type"
        )
    base = schema.type_path(name)
    for prop, node in schema.types[name].get("properties", {}).items():
        path = (*base, "properties", prop)
        if node.get("type") != "string":
            raise schema.error(
                (*path, "type"),
                f"customer-managed environment output {prop!r} must be type string",
            )
        if "default" in node:
            raise schema.error(
                (*path, "default"),
                f"customer-managed environment output {prop!r} must not have a default",
            )
