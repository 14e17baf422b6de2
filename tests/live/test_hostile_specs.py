"""Hostile and malformed specs through the API of a real `baryon up`.

Specs that cannot be read safely are refused before anything is created, each with a message
that says what is wrong. Values are data: Jinja in a value is not evaluated, and a value that
YAML would read as syntax where the template pastes it fails the deployment clearly instead
of deploying a template it changed.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest
import yaml
from botocore.exceptions import WaiterError

from tests.support.bundles import Registry, service_bundle
from tests.support.deploying import (
    FAST,
    env_spec,
    error_message,
    live_stacks,
    outputs,
    publish_environment_template,
    publish_service_template,
    service_spec,
    stack,
    stack_outputs,
)
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SVC_TEMPLATE = f"henv-{SUFFIX}", f"hsvc-{SUFFIX}"
ENV = f"safe{SUFFIX}"
SERVICE = f"values-{SUFFIX}"


def _laughs(levels: int, width: int) -> str:
    lines = ["proton: EnvironmentSpec", "spec:", f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        aliases = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"  l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


server = own_baryon("hostile-specs", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01"})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def cloudformation(server: BaryonProcess) -> Any:
    return server.client("cloudformation")


@pytest.fixture(scope="module")
def registry(server: BaryonProcess, proton: Any) -> Registry:
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE)
    publish_service_template(
        registry,
        SVC_TEMPLATE,
        [(ENV_TEMPLATE, "1")],
        pipelineProvisioning="CUSTOMER_MANAGED",
        files=service_bundle(pipeline=False),
    )
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=ENV,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(),
    )
    proton.get_waiter("environment_deployed").wait(name=ENV, WaiterConfig=FAST)
    return registry


ENVIRONMENT_SPECS = {
    "billion laughs": (
        _laughs(9, 9),  # 72 aliases that would expand to 9**9 nodes
        "YAML aliases expand to more than",
    ),
    "many aliases": (_laughs(4, 40), "more than 100 YAML aliases"),
    "deep nesting": (
        "proton: EnvironmentSpec\nspec:\n  size: " + "[" * 100 + "]" * 100 + "\n",
        "The spec was refused: spec line 3: YAML is nested more than 64 levels deep",
    ),
    "deep block nesting": (
        "proton: EnvironmentSpec\nspec:\n"
        + "".join("  " * depth + f"k{depth}:\n" for depth in range(1, 80))
        + "  " * 80
        + "end: 1\n",
        "YAML is nested more than 64 levels deep",
    ),
    "not YAML": ("proton: EnvironmentSpec\nspec: {size: [small\n", "The spec is not valid YAML"),
    "not a mapping": ("- proton\n- EnvironmentSpec\n", "spec: must be a YAML mapping"),
    "a bare string": ("EnvironmentSpec", "spec: must be a YAML mapping"),
    "wrong kind": (
        "proton: ServiceSpec\nspec:\n  size: small\n",
        "spec.proton: must be 'EnvironmentSpec', got 'ServiceSpec'",
    ),
    "NaN input": (
        "proton: EnvironmentSpec\nspec:\n  size: .nan\n",
        "spec.size: must be a finite number, got nan",
    ),
    "wrong value": (env_spec(size="huge"), "spec.size: must be one of ['small', 'large']"),
    "unknown section": ("proton: EnvironmentSpec\nspecs: {}\n", "unknown top-level key(s) specs"),
    "python object": (
        "proton: EnvironmentSpec\nspec:\n  size: !!python/object/apply:os.system [id]\n",
        "is not supported here",
    ),
    "a mapping as value": (
        "proton: EnvironmentSpec\nspec:\n  size: {nested: {deeper: 1}}\n",
        "spec.size",
    ),
}


@pytest.mark.parametrize("case", list(ENVIRONMENT_SPECS))
def test_environment_spec_refused(proton: Any, registry: Registry, case: str) -> None:
    text, fragment = ENVIRONMENT_SPECS[case]
    name = f"h{uuid.uuid4().hex[:8]}"
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.create_environment(
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
            name=name,
            templateName=ENV_TEMPLATE,
            templateMajorVersion="1",
            spec=text,
        )
    assert fragment in error_message(caught)
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_environment(name=name)


def test_oversized_spec_refused_by_the_model(
    proton: Any, cloudformation: Any, registry: Registry
) -> None:
    text = env_spec(size="small") + "# " + "x" * 51_200 + "\n"
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.create_environment(
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
            name=f"big{SUFFIX}",
            templateName=ENV_TEMPLATE,
            templateMajorVersion="1",
            spec=text,
        )
    assert "Member must have length less than or equal to 51200" in error_message(caught)
    with pytest.raises(proton.exceptions.ValidationException, match="51200"):
        proton.update_environment(name=ENV, deploymentType="CURRENT_VERSION", spec=text)
    # Nothing was created or deployed by any refused spec.
    names = [e["name"] for e in proton.list_environments()["environments"]]
    assert names == [ENV]
    assert len(proton.list_deployments(environmentName=ENV)["deployments"]) == 1
    deployed = stack(cloudformation, "environment", ENV)
    assert deployed is not None
    assert set(live_stacks(cloudformation, "baryon-environment-")) == {deployed["StackName"]}


SERVICE_SPECS = {
    "instance spec not a mapping": (
        "proton: ServiceSpec\ninstances:\n  - name: a\n    environment: ENV\n    spec: [1]\n",
        "instances[0].spec: must be a mapping of inputs",
    ),
    "instance without environment": (
        "proton: ServiceSpec\ninstances:\n  - name: a\n",
        "instances[0].environment: is required",
    ),
    "instances not a list": (
        "proton: ServiceSpec\ninstances: {a: 1}\n",
        "spec.instances: must be a list",
    ),
    "infinite instance input": (
        "proton: ServiceSpec\ninstances:\n  - name: a\n    environment: ENV\n"
        "    spec:\n      port: -.inf\n",
        "instances[0].spec.port: must be a finite number, got -inf",
    ),
    "port out of range": (
        "proton: ServiceSpec\ninstances:\n  - name: a\n    environment: ENV\n"
        "    spec:\n      port: 70000\n",
        "instances[0].spec.port",
    ),
    "environment kind": ("proton: EnvironmentSpec\n", "spec.proton: must be 'ServiceSpec'"),
    "instance listed twice": (
        "proton: ServiceSpec\ninstances:\n  - name: a\n    environment: ENV\n"
        "  - name: a\n    environment: ENV\n",
        "instances[1].name: instance 'a' is listed twice",
    ),
}


@pytest.mark.parametrize("case", list(SERVICE_SPECS))
def test_service_spec_refused(proton: Any, registry: Registry, case: str) -> None:
    text, fragment = SERVICE_SPECS[case]
    name = f"h{uuid.uuid4().hex[:8]}"
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.create_service(
            name=name,
            templateName=SVC_TEMPLATE,
            templateMajorVersion="1",
            spec=text.replace("ENV", ENV),
        )
    assert fragment in error_message(caught)
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_service(name=name)


@pytest.fixture(scope="module")
def service(proton: Any, registry: Registry) -> str:
    proton.create_service(
        name=SERVICE,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("web", ENV, {"port": 8080})]),
    )
    proton.get_waiter("service_created").wait(name=SERVICE, WaiterConfig=FAST)
    return SERVICE


def _set_image(proton: Any, image: str) -> dict[str, Any]:
    proton.update_service_instance(
        serviceName=SERVICE,
        name="web",
        deploymentType="CURRENT_VERSION",
        spec=service_spec([("web", ENV, {"port": 8080, "image": image})]),
    )
    with contextlib.suppress(WaiterError):  # the caller looks at how it ended
        proton.get_waiter("service_instance_deployed").wait(
            serviceName=SERVICE, name="web", WaiterConfig=FAST
        )
    return proton.get_service_instance(serviceName=SERVICE, name="web")["serviceInstance"]


def _web_outputs(proton: Any) -> dict[str, str]:
    return outputs(
        proton.list_service_instance_outputs(serviceName=SERVICE, serviceInstanceName="web")[
            "outputs"
        ]
    )


def test_jinja_in_a_value_is_rendered_literally(
    proton: Any, cloudformation: Any, service: str
) -> None:
    for value in ("{{ 7*7 }}", "{% raw %}{{ config }}", "${AWS::StackName}"):
        instance = _set_image(proton, value)
        assert instance["deploymentStatus"] == "SUCCEEDED", instance.get("deploymentStatusMessage")
        assert _web_outputs(proton)["Image"] == value
        deployed = stack(cloudformation, "service-instance", SERVICE, "web")
        assert deployed is not None and stack_outputs(deployed)["Image"] == value
    # Characters that are harmless where the template writes them pass through unchanged.
    for value in ("arn:aws:ecr:us-east-1:123456789012:repository/web", "v1 # not a comment"):
        instance = _set_image(proton, value)
        assert instance["deploymentStatus"] == "SUCCEEDED", instance.get("deploymentStatusMessage")
        assert _web_outputs(proton)["Image"] == value


# Each would change the template around it: end its quoted scalar, fold a line, cut the rest
# of a line, or add keys of its own.
BREAKING_VALUES = {
    "a quote": ("it's", "line 7: the rendered template is not valid YAML"),
    "a line break": ("nginx\nlatest", "changes the rendered template"),
    "a quote and a comment": ("x' #", "changes the rendered template"),
    "an injected output": ("x'\n  Injected:\n    Value: 'y", "changes the rendered template"),
}


@pytest.mark.parametrize("case", list(BREAKING_VALUES))
def test_value_that_breaks_the_template_fails_clearly(
    proton: Any, cloudformation: Any, service: str, case: str
) -> None:
    instance = _set_image(proton, "nginx")
    assert instance["deploymentStatus"] == "SUCCEEDED"
    before = stack(cloudformation, "service-instance", SERVICE, "web")
    assert before is not None

    value, fragment = BREAKING_VALUES[case]
    instance = _set_image(proton, value)
    message = instance["deploymentStatusMessage"]
    assert instance["deploymentStatus"] == "FAILED"
    assert message.startswith("instance_infrastructure/cloudformation.yaml")
    assert fragment in message
    assert "service_instance.inputs.image" in message
    deployment = proton.get_deployment(id=instance["lastAttemptedDeploymentId"])["deployment"]
    assert deployment["deploymentStatusMessage"] == message
    # Nothing reached the cloud: the stack and the outputs are what they were.
    after = stack(cloudformation, "service-instance", SERVICE, "web")
    assert after is not None
    assert after.get("LastUpdatedTime") == before.get("LastUpdatedTime")
    assert stack_outputs(after) == stack_outputs(before)
    assert "Injected" not in stack_outputs(after)
    assert _web_outputs(proton)["Image"] == "nginx"


def test_breaking_value_at_creation_creates_no_stack(
    proton: Any, cloudformation: Any, service: str
) -> None:
    name = f"broken-{SUFFIX}"
    proton.create_service(
        name=name,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("web", ENV, {"image": "it's"})]),
    )
    with pytest.raises(WaiterError, match="CREATE_FAILED"):
        proton.get_waiter("service_created").wait(name=name, WaiterConfig=FAST)
    web = proton.get_service_instance(serviceName=name, name="web")["serviceInstance"]
    assert web["deploymentStatus"] == "FAILED"
    assert "service_instance.inputs.image" in web["deploymentStatusMessage"]
    assert stack(cloudformation, "service-instance", name, "web") is None
    # The spec as given is kept, for the user to see what was refused.
    assert yaml.safe_load(web["spec"])["instances"][0]["spec"]["image"] == "it's"
