"""Forms generated from a schema: widgets, defaults, required marks, typed values, errors
beside their fields, and the specs they produce."""

from __future__ import annotations

import pytest

from baryon.bundles.schema import parse_schema
from baryon.domain import specs
from baryon.operations import spec_documents
from baryon.web import forms

SCHEMA = parse_schema("""\
schema:
  format:
    openapi: "3.0.0"
  service_input_type: "Svc"
  types:
    Limits:
      type: object
      properties:
        cpu:
          type: number
    Svc:
      type: object
      description: "A service"
      required: [image, port, tier]
      properties:
        image:
          type: string
          title: "Container image"
          description: "Where the image comes from"
          minLength: 3
        port:
          type: integer
          default: 80
          minimum: 1
          maximum: 65535
        tier:
          type: string
          enum: [web, worker]
        public:
          type: boolean
          default: false
        ratio:
          type: number
        hosts:
          type: array
          items:
            type: string
        limits:
          $ref: "#/Limits"
""")


def _form() -> forms.InputForm:
    return forms.input_form(SCHEMA, "Svc", prefix="in-")


def _by_name(form: forms.InputForm) -> dict[str, forms.Field]:
    return {f.name: f for f in form.fields}


def test_each_property_gets_a_fitting_field() -> None:
    fields = _by_name(_form())
    assert list(fields) == ["image", "port", "tier", "public", "ratio", "hosts", "limits"]
    assert (fields["image"].widget, fields["image"].label) == ("text", "Container image")
    assert fields["image"].description == "Where the image comes from"
    assert "at least 3 characters" in fields["image"].constraints
    assert (fields["port"].widget, fields["port"].kind, fields["port"].input_mode) == (
        "text", "integer", "numeric")
    assert fields["port"].constraints == ["at least 1", "at most 65535"]
    assert (fields["tier"].widget, fields["tier"].choices) == ("select", ["web", "worker"])
    assert (fields["public"].widget, fields["public"].choices) == ("select", ["true", "false"])
    assert fields["ratio"].input_mode == "decimal"
    assert (fields["hosts"].widget, fields["hosts"].kind) == ("textarea", "list")
    assert fields["hosts"].type_label == "list of string"
    assert (fields["limits"].kind, fields["limits"].type_label) == ("yaml", "object (Limits)")
    assert [child.name for child in fields["limits"].children] == ["cpu"]
    assert _form().fields[0].key == "in-image"


def test_required_is_marked_only_where_no_default_fills_in() -> None:
    fields = _by_name(_form())
    assert fields["image"].required and fields["tier"].required
    assert not fields["port"].required and fields["port"].listed_required  # it has a default
    assert not fields["ratio"].required


def test_defaults_are_filled_in() -> None:
    fields = _by_name(forms.fill(_form(), None))
    assert fields["port"].value == "80"
    assert fields["public"].value == "false"
    assert fields["image"].value == ""


def test_a_spec_fills_its_values_and_defaults_the_rest() -> None:
    fields = _by_name(forms.fill(_form(), {"image": "nginx", "hosts": ["a", "b"],
                                           "limits": {"cpu": 1.5}}))
    assert fields["image"].value == "nginx"
    assert fields["hosts"].value == "a\nb"
    assert fields["limits"].value == "cpu: 1.5"
    assert fields["port"].value == "80"


def test_submitted_text_becomes_typed_values_and_defaults_are_left_out() -> None:
    form = _form()
    values = forms.read(form, {
        "in-image": "nginx:1.27", "in-port": "80", "in-tier": "worker", "in-public": "true",
        "in-ratio": "0.25", "in-hosts": "a.example\n\nb.example\n", "in-limits": "cpu: 2",
    })
    assert values == {"image": "nginx:1.27", "tier": "worker", "public": True, "ratio": 0.25,
                      "hosts": ["a.example", "b.example"], "limits": {"cpu": 2}}
    assert not form.has_errors
    forms.check(form, SCHEMA, values)
    assert not form.has_errors


def test_text_that_is_not_the_right_type_is_an_error_beside_its_field() -> None:
    form = _form()
    forms.read(form, {"in-image": "nginx", "in-tier": "web", "in-port": "eighty",
                      "in-ratio": "1e999", "in-limits": "cpu: [1"})
    fields = _by_name(form)
    assert fields["port"].error == "must be a whole number"
    assert fields["port"].value == "eighty"  # what was typed is shown again
    assert fields["ratio"].error == "must be a finite number"
    assert fields["limits"].error is not None and "YAML" in fields["limits"].error
    assert fields["image"].error is None


def test_the_schemas_own_rules_put_each_problem_beside_its_field() -> None:
    form = _form()
    values = forms.read(form, {"in-image": "ab", "in-port": "70000", "in-tier": "batch",
                               "in-limits": "cpu: fast"})
    forms.check(form, SCHEMA, values)
    fields = _by_name(form)
    assert fields["image"].error == "must be at least 3 characters long, got 2"
    assert fields["port"].error == "must be <= 65535, got 70000"
    assert fields["tier"].error is not None and "must be one of" in fields["tier"].error
    assert fields["limits"].error is not None and fields["limits"].error.startswith("cpu:")
    assert form.errors == []


def test_a_missing_required_input_is_reported_on_its_field() -> None:
    form = _form()
    values = forms.read(form, {"in-port": "", "in-tier": ""})
    forms.check(form, SCHEMA, values)
    fields = _by_name(form)
    assert fields["image"].error == "is required"
    assert fields["tier"].error == "is required"
    assert fields["port"].error is None  # empty means "use the default"


def test_generated_specs_are_what_the_domain_reads() -> None:
    text = spec_documents.environment_spec({"size": "large"})
    assert specs.parse_environment_spec(text) == {"size": "large"}
    assert specs.parse_environment_spec(spec_documents.environment_spec({})) is None
    service = spec_documents.service_spec({"dockerfile": "Dockerfile.prod"},
                                          [("a", "dev", {"port": 1}), ("b", "dev", {})])
    document = specs.parse_service_spec(service)
    assert document.pipeline == {"dockerfile": "Dockerfile.prod"}
    assert [(i.name, i.environment, i.spec) for i in document.instances] == [
        ("a", "dev", {"port": 1}), ("b", "dev", {})]


def test_editing_one_instance_leaves_the_others_alone() -> None:
    service = spec_documents.service_spec(
        None, [("a", "dev", {"port": 1}), ("b", "dev", {"port": 2})])
    changed = spec_documents.with_instance_inputs(service, "b", {"port": 3})
    assert spec_documents.instance_inputs(changed, "a") == {"port": 1}
    assert spec_documents.instance_inputs(changed, "b") == {"port": 3}
    piped = spec_documents.with_pipeline_inputs(changed, {"x": 1})
    assert spec_documents.pipeline_inputs(piped) == {"x": 1}


def test_current_value_placeholders_pass_through() -> None:
    form = _form()
    values = forms.read(form, {"in-image": "nginx", "in-tier": "web",
                               "in-port": specs.CURRENT_VALUE})
    assert values["port"] == specs.CURRENT_VALUE
    forms.check(form, SCHEMA, values, current={"port": 8080})
    assert not form.has_errors


# --- patterns and numbers: linear time, ASCII only (issue 10) --------------------------------

CATASTROPHIC_SCHEMA = parse_schema("""\
schema:
  format:
    openapi: "3.0.0"
  environment_input_type: "Env"
  types:
    Env:
      type: object
      properties:
        label:
          type: string
          pattern: '^(a+)+$'
        short:
          type: string
          pattern: '^(a+)+$'
          maxLength: 5
""")


@pytest.mark.timeout(60)
def test_a_catastrophic_schema_pattern_puts_its_error_beside_the_field_at_once() -> None:
    form = forms.input_form(CATASTROPHIC_SCHEMA, "Env", prefix="in-")
    values = forms.read(form, {"in-label": "a" * 40 + "!", "in-short": "a" * 30_000 + "!"})
    forms.check(form, CATASTROPHIC_SCHEMA, values)
    fields = _by_name(form)
    assert fields["label"].error == (
        "must match the pattern given by the template: <code>^(a+)+$</code>"
    )
    assert fields["short"].error == "must be at most 5 characters long, got 30001"


def test_numbers_in_a_form_are_ascii_digits_only() -> None:
    form = _form()
    forms.read(form, {"in-image": "nginx", "in-tier": "web", "in-port": "8\u0660",
                      "in-ratio": "\u0660.5"})
    fields = _by_name(form)
    assert fields["port"].error == "must be a whole number"
    assert fields["ratio"].error == "must be a number"
    values = forms.read(form, {"in-image": "nginx", "in-tier": "web", "in-port": "+8080",
                               "in-ratio": "-.5e1"})
    assert (values["port"], values["ratio"]) == (8080, -5.0)
    assert not form.has_errors
