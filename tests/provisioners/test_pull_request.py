"""The pull-request provisioner against real repositories (bare ones on disk, read back with
the git CLI): the folder it proposes on its branch, the hand-off it reports, the same branch
and commit when a deployment runs again after a crash, layout 1, deletion marks, and what it
refuses."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from baryon.git.access import RepositoryAccess
from baryon.git.credentials import GitCredentials
from baryon.git.remote import GitRemote
from baryon.provisioners.base import (
    DeployRequest,
    OutcomeStatus,
    ProvisioningEngine,
    RenderedSection,
    ResourceIdentity,
    ResourceKind,
)
from baryon.provisioners.pull_request import (
    ProvisioningRepository,
    PullRequestProvisioner,
    PullRequestTarget,
)
from baryon.provisioners.pull_request_files import DELETED_BANNER, ResourceMetadata
from baryon.render.terraform import managed_header
from baryon.service_models.baryon import ConnectionProvider
from tests.git.conftest import Origin, git

ARN = "arn:aws:proton:us-east-1:123456789012"
ENV_ARN = f"{ARN}:environment/dev"
INSTANCE_ARN = f"{ARN}:service/web/service-instance/prod"


class RecordingIO:
    def __init__(self, deployment_id: str, cancel: bool = False) -> None:
        self.deployment_id = deployment_id
        self.lines: list[str] = []
        self._cancel = cancel

    def log(self, message: str) -> None:
        self.lines.append(message)

    def cancel_requested(self) -> bool:
        return self._cancel

    def heartbeat(self) -> None:
        pass


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    bare = tmp_path / "infra.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    made = Origin(bare, work)
    made.commit({"README.md": b"infrastructure\n"})
    return made


def provisioner(
    origin: Origin, cache: Path, kind: ResourceKind = ResourceKind.ENVIRONMENT
) -> PullRequestProvisioner:
    remote = GitRemote(origin.url, GitCredentials(), cache)
    access = RepositoryAccess("GITHUB", "acme/infra", ConnectionProvider.GIT, remote, None)
    if kind == ResourceKind.ENVIRONMENT:
        metadata = ResourceMetadata(ENV_ARN, f"{ARN}:environment-template/tf", "1", "0")
    else:
        metadata = ResourceMetadata(INSTANCE_ARN, f"{ARN}:service-template/s", "2", "1", ENV_ARN)
    repository = ProvisioningRepository("GITHUB", "acme/infra", "main")
    return PullRequestProvisioner(access, PullRequestTarget(repository, "dev", metadata))


def environment_request(deployment_id: str, main: str = "main body\n") -> DeployRequest:
    header = managed_header(ENV_ARN)
    section = RenderedSection(
        ProvisioningEngine.TERRAFORM,
        {"main.tf": header + main, "proton.auto.tfvars.json": '{\n  "//" : "x"\n}'},
    )
    resource = ResourceIdentity(ResourceKind.ENVIRONMENT, ("dev",), ENV_ARN, "123456789012", "r")
    return DeployRequest(section, resource, request_token=deployment_id)


def show(origin: Origin, ref: str, path: str) -> str:
    return git(origin.bare, "show", f"{ref}:{path}").stdout


def test_a_deployment_is_proposed_on_its_own_branch_and_handed_off(
    origin: Origin, tmp_path: Path
) -> None:
    deployment_id = str(uuid.uuid4())
    io = RecordingIO(deployment_id)
    outcome = provisioner(origin, tmp_path / "cache").deploy(environment_request(deployment_id), io)
    assert outcome.status == OutcomeStatus.HANDED_OFF, outcome.message
    handoff = outcome.handoff
    assert handoff is not None
    branch = f"proton--proton-environment-{deployment_id}"
    assert (handoff.head_branch, handoff.base_branch, handoff.number) == (branch, "main", None)
    assert handoff.head_sha == origin.head(branch) != origin.head("main")
    assert "waiting for it to be merged" in handoff.waiting_for
    assert "notify-resource-deployment-status-change" in handoff.waiting_for
    message = git(origin.bare, "log", "-1", "--format=%s%n%an", branch).stdout.split("\n")
    assert message[:2] == ["Update requested for Proton - environment/dev", "Baryon"]
    assert show(origin, branch, "dev/main.tf") == managed_header(ENV_ARN) + "main body\n"
    metadata = json.loads(show(origin, branch, "dev/.proton/deployment-metadata.json"))
    assert metadata["deploymentId"] == deployment_id
    assert metadata["isResourceDeleted"] is False
    assert origin.branches() == {"main", branch}


def test_running_the_same_deployment_again_finds_the_same_branch_and_commit(
    origin: Origin, tmp_path: Path
) -> None:
    deployment_id = str(uuid.uuid4())
    first = provisioner(origin, tmp_path / "cache").deploy(
        environment_request(deployment_id), RecordingIO(deployment_id)
    )
    # Another worker, with its own cache, after a crash.
    again = provisioner(origin, tmp_path / "other-cache").deploy(
        environment_request(deployment_id), RecordingIO(deployment_id)
    )
    assert first.handoff is not None and again.handoff is not None
    assert again.handoff.head_sha == first.handoff.head_sha
    assert len(origin.branches()) == 2


def test_a_repository_with_an_environments_folder_gets_layout_1(
    origin: Origin, tmp_path: Path
) -> None:
    origin.commit({"environments/README.md": b"layout 1\n"})
    deployment_id = str(uuid.uuid4())
    outcome = provisioner(origin, tmp_path / "cache").deploy(
        environment_request(deployment_id), RecordingIO(deployment_id)
    )
    assert outcome.handoff is not None
    files = git(origin.bare, "ls-tree", "-r", "--name-only", outcome.handoff.head_branch).stdout
    assert "environments/dev/main.tf" in files.split()
    assert "dev/main.tf" not in files.split()


def test_a_deletion_marks_the_merged_files_and_a_second_one_finds_them_marked(
    origin: Origin, tmp_path: Path
) -> None:
    deployed = str(uuid.uuid4())
    outcome = provisioner(origin, tmp_path / "cache").deploy(
        environment_request(deployed), RecordingIO(deployed)
    )
    assert outcome.handoff is not None
    git(origin.work, "fetch", "-q", "origin")
    git(origin.work, "checkout", "-q", "main")
    git(origin.work, "reset", "-q", "--hard", "origin/main")
    git(
        origin.work,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "merge",
        f"origin/{outcome.handoff.head_branch}",
    )
    git(origin.work, "push", "-q", "origin", "main")

    deleting = str(uuid.uuid4())
    resource = environment_request(deleting).resource
    marked = provisioner(origin, tmp_path / "cache").destroy(resource, RecordingIO(deleting))
    assert marked.status == OutcomeStatus.HANDED_OFF and marked.handoff is not None
    assert marked.handoff.deletion
    branch = marked.handoff.head_branch
    assert show(origin, branch, "dev/main.tf") == DELETED_BANNER + "main body\n"
    assert show(origin, branch, "dev/proton.auto.tfvars.json") == '{\n  "//" : "x"\n}'
    metadata = json.loads(show(origin, branch, "dev/.proton/deployment-metadata.json"))
    assert metadata["deploymentId"] == "<proton-resource-deleted>"
    assert metadata["isResourceDeleted"] is True
    assert metadata["resourceMetadata"]["arn"] == ENV_ARN

    git(origin.work, "fetch", "-q", "origin")
    git(origin.work, "merge", "-q", "--no-ff", "-m", "merge deletion", f"origin/{branch}")
    git(origin.work, "push", "-q", "origin", "main")
    again = str(uuid.uuid4())
    repeated = provisioner(origin, tmp_path / "cache").destroy(resource, RecordingIO(again))
    assert repeated.status == OutcomeStatus.SUCCEEDED, repeated.message
    assert f"proton--proton-environment-{again}" not in origin.branches()


def test_deleting_what_was_never_merged_completes_at_once(origin: Origin, tmp_path: Path) -> None:
    deployment_id = str(uuid.uuid4())
    resource = environment_request(deployment_id).resource
    outcome = provisioner(origin, tmp_path / "cache").destroy(resource, RecordingIO(deployment_id))
    assert outcome.status == OutcomeStatus.SUCCEEDED
    assert "nothing to mark deleted" in (outcome.message or "")
    assert origin.branches() == {"main"}


def test_an_instance_goes_inside_its_environments_folder(origin: Origin, tmp_path: Path) -> None:
    deployment_id = str(uuid.uuid4())
    section = RenderedSection(
        ProvisioningEngine.TERRAFORM, {"main.tf": managed_header(INSTANCE_ARN) + "x\n"}
    )
    resource = ResourceIdentity(
        ResourceKind.SERVICE_INSTANCE, ("web", "prod"), INSTANCE_ARN, "123456789012", "r"
    )
    outcome = provisioner(origin, tmp_path / "cache", ResourceKind.SERVICE_INSTANCE).deploy(
        DeployRequest(section, resource, request_token=deployment_id), RecordingIO(deployment_id)
    )
    assert outcome.handoff is not None
    branch = outcome.handoff.head_branch
    assert branch.startswith("proton--proton-service_instance-")
    metadata = json.loads(show(origin, branch, "dev/web-prod/.proton/deployment-metadata.json"))
    assert metadata["resourceMetadata"]["environmentArn"] == ENV_ARN


def test_a_missing_branch_fails_naming_it_and_a_cancel_opens_nothing(
    origin: Origin, tmp_path: Path
) -> None:
    deployment_id = str(uuid.uuid4())
    remote = GitRemote(origin.url, GitCredentials(), tmp_path / "cache")
    access = RepositoryAccess("GITHUB", "acme/infra", ConnectionProvider.GIT, remote, None)
    metadata = ResourceMetadata(ENV_ARN, f"{ARN}:environment-template/tf", "1", "0")
    elsewhere = ProvisioningRepository("GITHUB", "acme/infra", "release")
    missing = PullRequestProvisioner(access, PullRequestTarget(elsewhere, None, metadata))
    outcome = missing.deploy(environment_request(deployment_id), RecordingIO(deployment_id))
    assert outcome.status == OutcomeStatus.FAILED
    assert "'release'" in (outcome.message or "") and "does not exist" in (outcome.message or "")
    cancelled = provisioner(origin, tmp_path / "cache").deploy(
        environment_request(deployment_id), RecordingIO(deployment_id, cancel=True)
    )
    assert cancelled.status == OutcomeStatus.CANCELLED
    assert origin.branches() == {"main"}
