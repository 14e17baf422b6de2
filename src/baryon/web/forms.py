"""Forms generated from a template version's schema, and the schema shown as documentation.

Each top-level property of an input type becomes one field: an enum a choice, a boolean a
yes/no choice, a string or a number a text box (browsers would silently drop a wrong number
from a number box, and the developer should see what they typed and why it is wrong), a list
of scalars one item per line, anything deeper a small YAML box. Defaults are filled in and
required fields are marked. Submitted text is turned back into typed values, then checked by
the domain's own check of a submitted spec (operations/spec_documents.py), and
each problem is put beside the field it is about. Specs are written and read there too.

A value equal to the schema's default is left out of the generated spec, so that a resource
keeps following its template's defaults (a later minor version may change them) unless the
developer chose something else.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml
from markupsafe import Markup

from baryon import patterns
from baryon.operations.spec_documents import (
    CURRENT_VALUE,
    PatternMismatch,
    VersionSchema,
    input_path,
    input_problems,
    referenced_type,
)
from baryon.service_models import PROTON, service_model
from baryon.web.members import PATTERN_WORDS

_SCALARS = ("string", "number", "integer", "boolean")
_MAX_DEPTH = 8
_WHOLE_NUMBER = patterns.compile_pattern(r"^[+-]?[0-9]+$")
_DECIMAL = patterns.compile_pattern(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")


@dataclass
class Field:
    name: str  # the property's name in the spec
    key: str  # the HTML form field's name
    label: str
    kind: str  # string | number | integer | boolean | list | yaml
    widget: str  # text | select | textarea
    type_label: str
    required: bool  # listed as required and without a default: the developer must fill it
    listed_required: bool  # listed as required by the schema (with or without a default)
    has_default: bool
    default: Any = None
    choices: list[str] = field(default_factory=list)
    item_kind: str = "string"  # for lists
    description: str | None = None
    constraints: list[str] = field(default_factory=list)
    children: list[Field] = field(default_factory=list)  # nested properties, for the docs
    value: str = ""
    error: str | None = None

    @property
    def default_text(self) -> str:
        return display_value(self.default) if self.has_default else ""

    @property
    def input_mode(self) -> str | None:
        return {"number": "decimal", "integer": "numeric"}.get(self.kind)


@dataclass
class InputForm:
    """The fields of one input type (environment, service instance or pipeline)."""

    type_name: str | None
    fields: list[Field]
    errors: list[str] = field(default_factory=list)  # problems that belong to no field

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(f.error for f in self.fields)


# --- building fields ------------------------------------------------------------------------


def _resolve(node: Mapping[str, Any], types: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Follows ``$ref``s; returns the node and the name of the last type referred to."""
    name = ""
    seen = 0
    while isinstance(node, Mapping) and "$ref" in node and seen < _MAX_DEPTH:
        name = referenced_type(node["$ref"])
        node = types.get(name, {})
        seen += 1
    return dict(node) if isinstance(node, Mapping) else {}, name


def _type_of(node: Mapping[str, Any]) -> str | None:
    kind = node.get("type")
    if isinstance(kind, list):  # not OpenAPI 3.0, but tolerate it
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in node:
        return "object"
    return kind if isinstance(kind, str) else None


def _type_label(node: Mapping[str, Any], types: Mapping[str, Any], ref: str = "") -> str:
    kind = _type_of(node)
    if kind == "array":
        items, items_ref = _resolve(node.get("items") or {}, types)
        return f"list of {_type_label(items, types, items_ref)}"
    label = kind or "any value"
    if kind == "object" and ref:
        label = f"object ({ref})"
    if node.get("format"):
        label += f" ({node['format']})"
    if node.get("nullable") is True:
        label += ", or null"
    return label


def _constraints(node: Mapping[str, Any]) -> list[str]:
    texts: list[str] = []
    minimum, maximum = node.get("minimum"), node.get("maximum")
    if minimum is not None:
        strict = node.get("exclusiveMinimum") is True
        texts.append(f"{'more than' if strict else 'at least'} {display_value(minimum)}")
    if maximum is not None:
        strict = node.get("exclusiveMaximum") is True
        texts.append(f"{'less than' if strict else 'at most'} {display_value(maximum)}")
    if node.get("minLength") is not None:
        texts.append(f"at least {node['minLength']} characters")
    if node.get("maxLength") is not None:
        texts.append(f"at most {node['maxLength']} characters")
    if node.get("pattern"):
        texts.append(pattern_words(str(node["pattern"]), "matches"))
    if node.get("minItems") is not None:
        texts.append(f"at least {node['minItems']} items")
    if node.get("maxItems") is not None:
        texts.append(f"at most {node['maxItems']} items")
    if node.get("uniqueItems") is True:
        texts.append("no duplicate items")
    return texts


def _field(
    name: str,
    node: Mapping[str, Any],
    types: Mapping[str, Any],
    *,
    prefix: str,
    listed_required: bool,
    depth: int,
) -> Field:
    node, ref = _resolve(node, types)
    kind = _type_of(node)
    has_default = "default" in node
    enum = node.get("enum")
    item_kind = "string"
    if isinstance(enum, list) and enum and all(_is_scalar(v) for v in enum):
        widget, form_kind = "select", kind if kind in _SCALARS else "string"
        choices = [display_value(v) for v in enum]
    elif kind == "boolean":
        widget, form_kind, choices = "select", "boolean", ["true", "false"]
    elif kind in ("string", "number", "integer"):
        widget, form_kind, choices = "text", kind, []
    elif kind == "array":
        items, _ = _resolve(node.get("items") or {}, types)
        items_type = _type_of(items)
        if items_type in _SCALARS and "enum" not in items:
            widget, form_kind, choices, item_kind = "textarea", "list", [], items_type
        else:
            widget, form_kind, choices = "textarea", "yaml", []
    else:
        widget, form_kind, choices = "textarea", "yaml", []
    children: list[Field] = []
    if kind == "object" and depth < _MAX_DEPTH:
        required_children = set(node.get("required") or [])
        children = [
            _field(
                child_name,
                child,
                types,
                prefix=f"{prefix}{name}.",
                listed_required=child_name in required_children,
                depth=depth + 1,
            )
            for child_name, child in (node.get("properties") or {}).items()
        ]
    title = node.get("title")
    return Field(
        name=name,
        key=f"{prefix}{name}",
        label=str(title) if title else name,
        kind=form_kind,
        widget=widget,
        type_label=_type_label(node, types, ref),
        required=listed_required and not has_default,
        listed_required=listed_required,
        has_default=has_default,
        default=copy.deepcopy(node.get("default")),
        choices=choices,
        item_kind=item_kind,
        description=node.get("description"),
        constraints=_constraints(node),
        children=children,
    )


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def input_form(schema: VersionSchema | None, type_name: str | None, prefix: str) -> InputForm:
    """The fields of ``type_name`` (none when the version takes no such inputs)."""
    if schema is None or type_name is None or type_name not in schema.types:
        return InputForm(type_name, [])
    node, _ = _resolve(schema.types[type_name], schema.types)
    required = set(node.get("required") or [])
    fields = [
        _field(name, child, schema.types, prefix=prefix, listed_required=name in required, depth=0)
        for name, child in (node.get("properties") or {}).items()
    ]
    return InputForm(type_name, fields)


def describe_type(schema: VersionSchema, type_name: str) -> InputForm:
    """The documentation view: the same fields, nested properties included."""
    return input_form(schema, type_name, prefix="")


@cache
def _model_pattern_words() -> dict[str, str]:
    model = service_model(PROTON)
    return {
        str(model.shape_for(shape).metadata["pattern"]): words
        for shape, words in PATTERN_WORDS.items()
    }


def pattern_words(pattern: str, verb: str = "must match") -> Markup:
    """A pattern in words: the model's own words when a template reuses one of the model's
    patterns, else the pattern itself, set apart as code (a bare regular expression in a
    sentence reads as noise)."""
    known = _model_pattern_words().get(pattern)
    if known is not None:
        return Markup.escape(known)
    return Markup("{} the pattern given by the template: <code>{}</code>").format(verb, pattern)


# --- values <-> text ------------------------------------------------------------------------


def display_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    # As typed: no \uXXXX escapes for quotes or non-ASCII letters.
    return json.dumps(value, sort_keys=False, ensure_ascii=False)


def _text_for(f: Field, value: Any) -> str:
    if f.kind == "list" and isinstance(value, list):
        return "\n".join(display_value(item) for item in value)
    if f.kind == "yaml":
        return yaml.safe_dump(value, sort_keys=False, default_flow_style=False).strip()
    return display_value(value) if value is not None else ""


def fill(form: InputForm, values: Mapping[str, Any] | None) -> InputForm:
    """Shows ``values`` (a spec's inputs); fields the spec leaves out show their default."""
    for f in form.fields:
        if values is not None and f.name in values:
            f.value = _text_for(f, values[f.name])
        elif f.has_default:
            f.value = _text_for(f, f.default)
        else:
            f.value = ""
    return form


def _number(text: str, kind: str) -> int | float:
    # ASCII digits only: int() and float() also read "1\u0661" (an Arabic-Indic one) as 11.
    whole = _WHOLE_NUMBER.search(text)
    if kind == "integer":
        if not whole:
            raise ValueError("must be a whole number")
        return int(text)
    if not _DECIMAL.search(text):
        raise ValueError("must be a number")
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    return int(number) if number.is_integer() and whole else number


def _scalar(text: str, kind: str) -> Any:
    if kind in ("number", "integer"):
        return _number(text, kind)
    if kind == "boolean":
        if text.lower() in ("true", "yes", "on"):
            return True
        if text.lower() in ("false", "no", "off"):
            return False
        raise ValueError("must be true or false")
    return text


def _parse(f: Field, text: str) -> Any:
    if text.strip() == CURRENT_VALUE:
        return CURRENT_VALUE  # "keep the deployed value", resolved by the domain
    if f.widget == "select" and f.kind != "boolean":
        return _scalar(text, f.kind) if f.kind in ("number", "integer") else text
    if f.kind == "list":
        items = [line.strip() for line in text.splitlines() if line.strip()]
        parsed = []
        for index, item in enumerate(items, start=1):
            try:
                parsed.append(_scalar(item, f.item_kind))
            except ValueError as exc:
                raise ValueError(f"line {index}: {exc}") from None
        return parsed
    if f.kind == "yaml":
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            raise ValueError(f"is not valid YAML{where}") from None
    return _scalar(text.strip() if f.kind != "string" else text, f.kind)


def read(form: InputForm, submitted: Mapping[str, str]) -> dict[str, Any]:
    """Takes the submitted text of every field; returns the spec values (defaults left out).

    A field left empty is left out of the spec, so that its default applies (or, without a
    default, the schema says it is required).
    """
    values: dict[str, Any] = {}
    for f in form.fields:
        text = submitted.get(f.key, "")
        f.value = text
        f.error = None
        if f.kind != "string" and not text.strip():
            continue
        if f.kind == "string" and text == "":
            continue
        try:
            value = _parse(f, text)
        except ValueError as exc:
            f.error = str(exc)
            continue
        if f.has_default and value == f.default and type(value) is type(f.default):
            continue
        values[f.name] = value
    return values


def check(
    form: InputForm,
    schema: VersionSchema | None,
    values: dict[str, Any],
    current: Mapping[str, Any] | None = None,
) -> None:
    """Runs the schema's own validation and puts each problem beside its field."""
    if schema is None or form.type_name is None or form.has_errors:
        return
    resolved = {
        key: (current or {}).get(key, value) if value == CURRENT_VALUE else value
        for key, value in values.items()
    }
    by_name = {f.name: f for f in form.fields}
    for problem in input_problems(schema, form.type_name, resolved):
        head = problem.path[0] if problem.path else None
        target = by_name.get(head) if isinstance(head, str) else None
        if target is None:
            form.errors.append(str(problem))
            continue
        inner = input_path(problem.path[1:])
        said: str = problem.message
        if isinstance(problem.message, PatternMismatch):
            said = pattern_words(problem.message.pattern)
        message = _joined(": ", inner, said) if inner else said
        target.error = message if target.error is None else _joined("; ", target.error, message)


def _joined(separator: str, first: str, second: str) -> str:
    # Plain text stays plain; once a part is markup (a pattern shown as code), so is the whole.
    if isinstance(first, Markup) or isinstance(second, Markup):
        return Markup("{}" + separator + "{}").format(first, second)
    return f"{first}{separator}{second}"
