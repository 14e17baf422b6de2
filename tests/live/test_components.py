"""Directly defined components: inline IaC deployed beside a service instance, whose outputs the
instance's templates read as service_instance.components.default.outputs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.bundles import Registry, env_bundle, service_bundle, tar_gz
from tests.support.processes import BaryonProcess, own_baryon

FAST = {"Delay": 1, "MaxAttempts": 60}
ROLE = "arn:aws:iam::123456789012:role/components"
MANIFEST = (
    "infrastructure:\n  templates:\n    - file: cloudformation.yaml\n"
    "      rendering_engine: jinja\n      template_language: cloudformation\n"
)
COMPONENT = """\
{%- set attached = service_instance.name if service_instance is defined else "solo" %}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: '{{ component.name }}-{{ attached }}'
Outputs:
  Revision:
    Value: 'r1{{ suffix }}'
  QueueName:
    Value: !GetAtt Queue.QueueName
  Port:
    Value: '{{ service_instance.inputs.port if service_instance is defined else "none" }}'
"""


def _component(suffix: str = "") -> str:
    # `suffix` is not a Jinja variable: it changes an output between template revisions.
    return COMPONENT.replace("{{ suffix }}", suffix)


def _outputs(items: list[dict[str, str]]) -> dict[str, str]:
    return {item["key"]: item["valueString"] for item in items}


server = own_baryon("components", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2"})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    proton = server.client("proton")
    registry = Registry(proton, server.client("s3"))
    proton.create_environment_template(name="cenv")
    registry.publish(
        "environment", "cenv", registry.register("environment", "cenv", tar_gz(env_bundle()))
    )
    files = service_bundle(pipeline=False)
    files["instance_infrastructure/cloudformation.yaml"] += (
        "  ComponentQueue:\n"
        "    Value: '{{ service_instance.components.default.outputs.QueueName"
        ' | default("none") }}\'\n'
    )
    compatible = [{"templateName": "cenv", "majorVersion": "1"}]
    for name, sources in (("csvc", ["DIRECTLY_DEFINED"]), ("plain", None)):
        proton.create_service_template(name=name, pipelineProvisioning="CUSTOMER_MANAGED")
        extra = {"supportedComponentSources": sources} if sources else {}
        registry.publish(
            "service",
            name,
            registry.register(
                "service", name, tar_gz(files), compatibleEnvironmentTemplates=compatible, **extra
            ),
        )
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name="cdev",
        templateName="cenv",
        templateMajorVersion="1",
        spec="proton: EnvironmentSpec\n",
        componentRoleArn=ROLE,
    )
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name="norole",
        templateName="cenv",
        templateMajorVersion="1",
        spec="proton: EnvironmentSpec\n",
    )
    for env in ("cdev", "norole"):
        proton.get_waiter("environment_deployed").wait(name=env, WaiterConfig=FAST)
    for service, template in (("shop", "csvc"), ("legacy", "plain")):
        proton.create_service(
            name=service,
            templateName=template,
            templateMajorVersion="1",
            spec="proton: ServiceSpec\ninstances:\n  - name: web\n    environment: cdev\n"
            "    spec:\n      port: 8080\n",
        )
        proton.get_waiter("service_created").wait(name=service, WaiterConfig=FAST)
    return proton


def test_attached_component_feeds_its_instance(proton: Any) -> None:
    created = proton.create_component(
        name="cache",
        manifest=MANIFEST,
        templateFile=_component(),
        serviceName="shop",
        serviceInstanceName="web",
        tags=[{"key": "k", "value": "v"}],
    )["component"]
    assert (created["environmentName"], created["deploymentStatus"]) == ("cdev", "IN_PROGRESS")
    proton.get_waiter("component_deployed").wait(name="cache", WaiterConfig=FAST)
    outputs = _outputs(proton.list_component_outputs(componentName="cache")["outputs"])
    assert outputs == {"QueueName": "cache-web", "Port": "8080", "Revision": "r1"}
    resources = proton.list_component_provisioned_resources(componentName="cache")[
        "provisionedResources"
    ]
    assert [r["name"] for r in resources] == ["Queue"]
    assert proton.list_tags_for_resource(resourceArn=created["arn"])["tags"] == [
        {"key": "k", "value": "v"}
    ]

    # The instance reads the component's outputs on its next deployment.
    proton.update_service_instance(name="web", serviceName="shop", deploymentType="CURRENT_VERSION")
    proton.get_waiter("service_instance_deployed").wait(
        name="web", serviceName="shop", WaiterConfig=FAST
    )
    instance = _outputs(
        proton.list_service_instance_outputs(serviceName="shop", serviceInstanceName="web")[
            "outputs"
        ]
    )
    assert instance["ComponentQueue"] == "cache-web"

    # Updates: NONE changes the description only; CURRENT_VERSION redeploys the template.
    described = proton.update_component(name="cache", deploymentType="NONE", description="queue")[
        "component"
    ]
    assert described["description"] == "queue" and described["deploymentStatus"] == "SUCCEEDED"
    with pytest.raises(proton.exceptions.ValidationException, match="NONE"):
        proton.update_component(name="cache", deploymentType="NONE", templateFile=_component())
    proton.update_component(
        name="cache", deploymentType="CURRENT_VERSION", templateFile=_component("-v2")
    )
    proton.get_waiter("component_deployed").wait(name="cache", WaiterConfig=FAST)
    assert (
        _outputs(proton.list_component_outputs(componentName="cache")["outputs"])["Revision"]
        == "r1-v2"
    )
    history = proton.list_deployments(componentName="cache")["deployments"]
    assert [d["targetResourceType"] for d in history] == ["COMPONENT", "COMPONENT"]
    state = proton.get_deployment(id=history[0]["id"])["deployment"]["targetState"]
    assert state["component"]["templateFile"].count("-v2") == 1

    # An instance with a component attached cannot go, nor can the attached component: it is
    # detached first (Proton's rule), then deleted.
    with pytest.raises(proton.exceptions.ConflictException, match="component"):
        proton.delete_service(name="shop")
    with pytest.raises(proton.exceptions.ValidationException, match="detach it first"):
        proton.delete_component(name="cache")
    proton.update_component(
        name="cache", deploymentType="CURRENT_VERSION", serviceName="", serviceInstanceName=""
    )
    proton.get_waiter("component_deployed").wait(name="cache", WaiterConfig=FAST)
    proton.delete_component(name="cache")
    proton.get_waiter("component_deleted").wait(name="cache", WaiterConfig=FAST)
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_component(name="cache")


def test_detached_component_in_an_environment(proton: Any) -> None:
    proton.create_component(
        name="solo", manifest=MANIFEST, templateFile=_component(), environmentName="cdev"
    )
    proton.get_waiter("component_deployed").wait(name="solo", WaiterConfig=FAST)
    assert _outputs(proton.list_component_outputs(componentName="solo")["outputs"]) == {
        "QueueName": "solo-solo",
        "Port": "none",
        "Revision": "r1",
    }
    listed = proton.list_components(environmentName="cdev")["components"]
    assert "solo" in [c["name"] for c in listed]
    assert proton.get_resources_summary()["counts"]["components"]["total"] >= 1
    with pytest.raises(proton.exceptions.ConflictException, match="still has"):
        proton.delete_environment(name="cdev")
    proton.delete_component(name="solo")
    proton.get_waiter("component_deleted").wait(name="solo", WaiterConfig=FAST)


@pytest.mark.parametrize(
    ("arguments", "error", "fragment"),
    [
        ({"environmentName": "norole"}, "ValidationException", "componentRoleArn"),
        (
            {"serviceName": "legacy", "serviceInstanceName": "web"},
            "ValidationException",
            "does not support directly defined components",
        ),
        ({"serviceName": "shop"}, "ValidationException", "go together"),
        ({}, "ValidationException", "needs an environment"),
        ({"environmentName": "missing"}, "ResourceNotFoundException", "missing"),
    ],
)
def test_refused_components(proton: Any, arguments: dict, error: str, fragment: str) -> None:
    with pytest.raises(proton.exceptions.ClientError) as caught:
        proton.create_component(
            name="nope", manifest=MANIFEST, templateFile=_component(), **arguments
        )
    assert caught.value.response["Error"]["Code"] == error
    assert fragment in caught.value.response["Error"]["Message"]


def test_component_manifest_must_be_a_single_iac_file(proton: Any) -> None:
    codebuild = (
        "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n"
        "      settings:\n        provision: [make]\n"
    )
    with pytest.raises(proton.exceptions.ValidationException, match="manifest"):
        proton.create_component(
            name="built", manifest=codebuild, templateFile="x", environmentName="cdev"
        )
