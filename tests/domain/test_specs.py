"""Specs: YAML in, inputs out, every error naming where it is."""

from __future__ import annotations

import pytest

from baryon.bundles.schema import parse_schema
from baryon.domain import specs
from baryon.domain.errors import InvalidInput
from tests.support.bundles import ENV_SCHEMA, SVC_SCHEMA

ENV = parse_schema(ENV_SCHEMA)
SVC = parse_schema(SVC_SCHEMA)


def test_environment_spec_with_defaults() -> None:
    values = specs.parse_environment_spec("proton: EnvironmentSpec\nspec:\n  size: large\n")
    inputs = specs.apply_inputs(ENV, ENV.environment_input_type, values, where="spec")
    assert inputs == {"size": "large", "vpc_cidr": "10.0.0.0/16"}


def test_environment_spec_errors_name_the_field() -> None:
    values = specs.parse_environment_spec(
        "proton: EnvironmentSpec\nspec:\n  size: huge\n  vpc_cidr: nope\n  extra: 1\n"
    )
    with pytest.raises(InvalidInput) as caught:
        specs.apply_inputs(ENV, ENV.environment_input_type, values, where="spec")
    message = caught.value.message
    assert "spec.size" in message and "huge" in message
    assert "spec.vpc_cidr" in message
    assert "extra" not in message  # an undeclared input is ignored, not refused


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("proton: ServiceSpec\n", "must be 'EnvironmentSpec'"),
        ("just a string", "must be a YAML mapping"),
        ("proton: EnvironmentSpec\nspec: [1, 2]\n", "spec.spec: must be a mapping"),
        ("proton: EnvironmentSpec\nspec: {a: [unclosed\n", "not valid YAML"),
        ("proton: EnvironmentSpec\nspecs: {}\n", "unknown top-level key(s) specs"),
    ],
)
def test_malformed_environment_specs(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=None) as caught:
        specs.parse_environment_spec(text)
    assert fragment in caught.value.message


def test_service_spec_instances_and_pipeline() -> None:
    document = specs.parse_service_spec(
        "proton: ServiceSpec\npipeline:\n  dockerfile: D\ninstances:\n"
        "  - name: a\n    environment: e1\n    spec:\n      port: 8080\n"
        "  - name: b\n    environment: e2\n"
    )
    assert [i.name for i in document.instances] == ["a", "b"]
    first = specs.apply_inputs(
        SVC, SVC.service_input_type, document.instance("a").spec, where="instances[0].spec"
    )
    assert first == {"port": 8080, "image": "nginx"}
    pipeline = specs.apply_inputs(SVC, SVC.pipeline_input_type, document.pipeline, where="pipeline")
    assert pipeline == {"dockerfile": "D"}


def test_service_spec_errors_name_the_instance() -> None:
    with pytest.raises(InvalidInput) as caught:
        specs.parse_service_spec(
            "proton: ServiceSpec\ninstances:\n  - name: a\n  - environment: e\n"
            "  - name: a\n    environment: e\n"
        )
    message = caught.value.message
    assert "instances[0].environment: is required" in message
    assert "instances[1].name: is required" in message
    assert "instances[2].name: instance 'a' is listed twice" in message
    document = specs.parse_service_spec(
        "proton: ServiceSpec\ninstances:\n  - name: a\n    environment: e\n"
        "    spec:\n      port: 70000\n"
    )
    with pytest.raises(InvalidInput, match=r"instances\[0\]\.spec\.port"):
        specs.apply_inputs(
            SVC, SVC.service_input_type, document.instance("a").spec, where="instances[0].spec"
        )


def test_current_value_keeps_what_is_deployed() -> None:
    values = {"port": specs.CURRENT_VALUE, "image": "httpd"}
    inputs = specs.apply_inputs(
        SVC, SVC.service_input_type, values, where="spec", current={"port": 9000}
    )
    assert inputs == {"port": 9000, "image": "httpd"}
    with pytest.raises(InvalidInput, match="needs a current value"):
        specs.apply_inputs(SVC, SVC.service_input_type, values, where="spec", current={})


def test_a_nan_spec_value_is_a_validation_exception_naming_the_field() -> None:
    document = specs.parse_service_spec(
        "proton: ServiceSpec\ninstances:\n  - name: a\n    environment: e\n"
        "    spec:\n      port: .nan\n"
    )
    with pytest.raises(InvalidInput) as caught:
        specs.apply_inputs(
            SVC, SVC.service_input_type, document.instance("a").spec, where="instances[0].spec"
        )
    assert "instances[0].spec.port: must be a finite number, got nan" in caught.value.message


def test_an_infinite_environment_input_is_refused_even_where_a_string_is_expected() -> None:
    values = specs.parse_environment_spec("proton: EnvironmentSpec\nspec:\n  size: -.inf\n")
    with pytest.raises(InvalidInput) as caught:
        specs.apply_inputs(ENV, ENV.environment_input_type, values, where="spec")
    assert "spec.size: must be a finite number, got -inf" in caught.value.message


def test_undeclared_inputs_are_accepted_and_become_deployment_warnings() -> None:
    document = specs.parse_service_spec(
        "proton: ServiceSpec\npipeline:\n  dockerfile: Dockerfile.prod\n  dockerfiles: x\n"
        "instances: []\n"
    )
    applied = specs.resolve_inputs(
        SVC, SVC.pipeline_input_type, document.pipeline, where="pipeline"
    )
    assert applied.values == {"dockerfile": "Dockerfile.prod"}
    assert specs.ignored_input_messages(applied) == [
        "Spec input ignored: pipeline.dockerfiles: unknown input 'dockerfiles'; "
        "did you mean 'dockerfile'?; it is ignored"
    ]


def test_a_parsed_service_spec_is_the_callers_own_to_change() -> None:
    text = (
        "proton: ServiceSpec\n"
        "pipeline:\n  steps: [build, test]\n"
        "instances:\n"
        "  - name: a\n    environment: dev\n"
        "    spec:\n      ports: [80, 443]\n      labels: {team: x}\n"
    )
    first = specs.parse_service_spec(text)
    entry = first.instance("a")
    assert entry.spec is not None and first.pipeline is not None
    entry.spec["ports"].append(8080)
    entry.spec["labels"]["team"] = "changed"
    first.pipeline["steps"].clear()

    again = specs.parse_service_spec(text)
    assert again.instance("a").spec == {
        "ports": [80, 443],
        "labels": {"team": "x"},
    }
    assert again.pipeline == {"steps": ["build", "test"]}
    assert again.source.data["instances"][0]["spec"]["ports"] == [80, 443]
