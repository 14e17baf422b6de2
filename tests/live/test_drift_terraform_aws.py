"""Terraform drift of a real thing: an SSM parameter that Terraform's AWS provider made in the
local cloud, changed behind Terraform's back through boto3 (PutParameter), shows in the
refresh-only plan's resource drift with both values; re-apply puts Terraform's value back in
the cloud and the next check is clean.

The AWS provider comes from a filesystem mirror (`terraform providers mirror` output, at
BARYON_TEST_TERRAFORM_MIRROR, /opt/tf-plugins by default): nothing is downloaded. Without one
the test is skipped, or fails under CI.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundles import Registry
from tests.support.deploying import env_spec, publish_environment_template, settled
from tests.support.processes import BaryonProcess, own_baryon
from tests.support.terraform_exe import path_with_terraform

MIRROR = Path(os.environ.get("BARYON_TEST_TERRAFORM_MIRROR", "/opt/tf-plugins"))
ROLE = "arn:aws:iam::123456789012:role/proton-service"
ENV = "tf-real"
PARAMETER = "/tf-real/tier"
FINISHED = ("IN_SYNC", "DRIFTED", "FAILED", "SKIPPED")


def _aws_provider_version() -> str | None:
    found = sorted((MIRROR / "registry.terraform.io" / "hashicorp" / "aws").glob("*/linux_amd64"))
    return found[-1].parent.name if found else None


VERSION = _aws_provider_version()
if VERSION is None:  # pragma: no cover - depends on the machine
    if os.environ.get("CI"):
        pytest.fail(f"No AWS provider in the Terraform mirror {MIRROR}.")
    pytest.skip(f"No AWS provider in the Terraform mirror {MIRROR}.", allow_module_level=True)

server = own_baryon(
    "drift-terraform-aws",
    env={"PATH": path_with_terraform(), "BARYON_TERRAFORM_PROVIDER_MIRROR": str(MIRROR)},
)

SCHEMA = """\
schema:
  format:
    openapi: "3.0.0"
  environment_input_type: "EnvInput"
  types:
    EnvInput:
      type: object
      properties:
        tier:
          type: string
          default: gold
"""
MANIFEST = """\
infrastructure:
  templates:
    - file: "*"
      rendering_engine: hcl
      template_language: terraform
"""
MAIN_TF = """\
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "@VERSION@" }
  }
}
provider "aws" {
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}
resource "aws_ssm_parameter" "tier" {
  name           = "@PARAMETER@"
  type           = "String"
  insecure_value = var.environment.inputs.tier
}
""".replace("@VERSION@", str(VERSION)).replace("@PARAMETER@", PARAMETER)


@pytest.fixture(scope="module")
def baryon(server: BaryonProcess) -> Any:
    return server.client("baryon")


@pytest.fixture(scope="module")
def environment(server: BaryonProcess) -> str:
    proton = server.client("proton")
    files = {
        "schema/schema.yaml": SCHEMA,
        "infrastructure/manifest.yaml": MANIFEST,
        "infrastructure/main.tf": MAIN_TF,
    }
    publish_environment_template(Registry(proton, server.client("s3")), "tf-params", files)
    proton.create_environment(
        name=ENV,
        templateName="tf-params",
        templateMajorVersion="1",
        protonServiceRoleArn=ROLE,
        spec=env_spec(tier="gold"),
    )
    view = settled(lambda: proton.get_environment(name=ENV), "environment", timeout=300)
    assert view["deploymentStatus"] == "SUCCEEDED", server.log_tail()
    return str(view["arn"])


def check(baryon: Any) -> dict[str, Any]:
    started = baryon.start_drift_check(
        resources=[{"resourceType": "ENVIRONMENT", "environmentName": ENV}]
    )
    check_id = started["checks"][0]["checkId"]
    deadline = time.monotonic() + 300
    while True:
        report = baryon.get_drift_report(resourceType="ENVIRONMENT", environmentName=ENV)
        last = report.get("lastCheck", {})
        if last.get("checkId") == check_id and last["status"] in FINISHED:
            return report
        assert time.monotonic() < deadline, report
        time.sleep(0.5)


def test_a_parameter_changed_behind_terraforms_back_shows_and_reapply_restores_it(
    server: BaryonProcess, baryon: Any, environment: str
) -> None:
    ssm = server.client("ssm")
    assert ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"] == "gold"
    ssm.put_parameter(Name=PARAMETER, Value="lead", Type="String", Overwrite=True)

    report = check(baryon)

    assert report["lastCheck"]["status"] == "DRIFTED", report["lastCheck"].get("statusMessage")
    assert report["lastCheck"]["method"] == "TERRAFORM_REFRESH_ONLY_PLAN"
    [item] = [i for i in report["items"] if i["propertyPath"] == "/insecure_value"]
    assert item["logicalResourceId"] == "aws_ssm_parameter.tier"
    assert item["engineResourceType"] == "aws_ssm_parameter"
    assert (item["expectedValue"], item["actualValue"]) == ("gold", "lead")
    assert (item["binding"], item["inputName"]) == ("INPUT", "tier")

    decided = baryon.decide_drift_item(itemId=item["itemId"], decision="REAPPLY")["item"]

    proton = server.client("proton")
    view = settled(lambda: proton.get_environment(name=ENV), "environment", timeout=300)
    assert view["lastAttemptedDeploymentId"] == decided["deploymentId"]
    assert view["deploymentStatus"] == "SUCCEEDED", server.log_tail()
    assert ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"] == "gold"
    after = check(baryon)
    assert after["lastCheck"]["status"] == "IN_SYNC", after
    assert after["items"] == []
