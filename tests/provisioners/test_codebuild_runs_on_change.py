"""settings.codebuild_runs_on changed while a resource stands: the CodeBuild provisioner that
selection.py gives deploys where the setting says, and deletes where the resource last ran,
with the real runner, a real store and the local cloud's CodeBuild."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from baryon.cloud.process import LocalCloudProcess
from baryon.provisioners import DeployRequest, OutcomeStatus, ProvisioningEngine
from baryon.provisioners.base import BuildCommands, Provisioner, RenderedSection
from baryon.provisioners.codebuild_aws import project_name
from baryon.provisioners.selection import provisioner_for
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings
from tests.provisioners.conftest import RecordingIO, cloud_client, identity

BUILD_ROLE = "arn:aws:iam::123456789012:role/codebuild-builds"


@pytest.fixture
def runtime(tmp_path: Path, timed_cloud: LocalCloudProcess) -> Iterator[Runtime]:
    runtime = build_runtime(
        Settings(
            data_dir=tmp_path / "data",
            runner_work_root=str(tmp_path),
            cloud_endpoint=timed_cloud.endpoint,
            cloud_access_key_id="testing",
            cloud_secret_access_key="testing",
            codebuild_poll_seconds=0.01,
            program_api_endpoint="https://baryon.example.com",
        )
    )
    yield runtime
    runtime.close()


def codebuild(runtime: Runtime, runs_on: str) -> Provisioner:
    settings = replace(runtime.settings, codebuild_runs_on=runs_on)
    found = provisioner_for(ProvisioningEngine.CODEBUILD, settings, runtime.provisioner_parts)
    assert found is not None
    return found


def section() -> RenderedSection:
    return RenderedSection(
        ProvisioningEngine.CODEBUILD,
        {"proton-inputs.json": "{}"},
        None,
        BuildCommands(("echo provisioning",), ("echo deprovisioning $RESOURCE_ARN",)),
    )


def project_names(endpoint: str) -> list[str]:
    names: list[str] = cloud_client(endpoint, "codebuild").list_projects()["projects"]
    return names


def test_a_resource_deployed_by_baryon_deletes_through_the_runner_with_the_setting_on_aws(
    runtime: Runtime, timed_cloud: LocalCloudProcess
) -> None:
    env = replace(identity("ran-here"), build_role_arn=BUILD_ROLE)
    deploy_io = RecordingIO()
    deployed = codebuild(runtime, "baryon").deploy(DeployRequest(section(), env, "d-1"), deploy_io)
    assert deployed.status == OutcomeStatus.SUCCEEDED, deployed.message
    assert deploy_io.logged("run by Baryon")

    on_aws = codebuild(runtime, "aws")
    io = RecordingIO(deployment_id="d-2")
    outcome = on_aws.destroy(identity("ran-here"), io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.message
    assert io.logged(f"deprovisioning {env.arn}")  # the runner's output, not a build's
    assert project_name(env) not in project_names(timed_cloud.endpoint)
    assert on_aws.status(env) is None


def test_a_resource_deployed_on_aws_codebuild_deletes_its_project_with_the_setting_on_baryon(
    runtime: Runtime, timed_cloud: LocalCloudProcess
) -> None:
    env = replace(identity("ran-on-aws"), build_role_arn=BUILD_ROLE)
    deployed = codebuild(runtime, "aws").deploy(DeployRequest(section(), env, "d-1"), RecordingIO())
    assert deployed.status == OutcomeStatus.SUCCEEDED, deployed.message
    assert project_name(env) in project_names(timed_cloud.endpoint)

    on_baryon = codebuild(runtime, "baryon")
    io = RecordingIO(deployment_id="d-2")
    outcome = on_baryon.destroy(identity("ran-on-aws"), io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.message
    assert io.logged("AWS CodeBuild deprovision")
    assert not io.logged("run by Baryon")
    assert project_name(env) not in project_names(timed_cloud.endpoint)
    assert on_baryon.status(env) is None


def test_a_deploy_follows_the_setting_even_where_the_resource_last_ran_elsewhere(
    runtime: Runtime, timed_cloud: LocalCloudProcess
) -> None:
    env = replace(identity("moved-here"), build_role_arn=BUILD_ROLE)
    first = codebuild(runtime, "aws").deploy(DeployRequest(section(), env, "d-1"), RecordingIO())
    assert first.status == OutcomeStatus.SUCCEEDED, first.message
    io = RecordingIO()
    again = codebuild(runtime, "baryon").deploy(DeployRequest(section(), env, "d-2"), io)
    assert again.status == OutcomeStatus.SUCCEEDED, again.message
    assert io.logged("run by Baryon")
