"""CodeBuild sections run on AWS CodeBuild (settings.codebuild_runs_on = "aws") against the
local cloud, whose CodeBuild keeps projects and builds (a build ends SUCCEEDED when first
looked at; nothing really runs): the project Baryon makes, the source it uploads, a resumed
deploy, a cancel and a delete."""

from __future__ import annotations

import io as bytes_io
import json
import time
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from baryon.auth.scoped_keys import CallerKeys, ScopedKeys
from baryon.cloud.process import LocalCloudProcess
from baryon.provisioners import DeployRequest, OutcomeStatus, ProvisioningEngine
from baryon.provisioners.base import BuildCommands, RenderedSection, ResourceIdentity
from baryon.provisioners.codebuild import (
    CodeBuildConfig,
    CodeBuildProvisioner,
    Phase,
    cloud_secret_reader,
)
from baryon.provisioners.codebuild_aws import (
    PROTON_KEY_ID_VARIABLE,
    PROTON_PROFILE_COMMAND,
    AwsCodeBuildConfig,
    CodeBuildOnAwsProvisioner,
    build_outcome,
    project_name,
)
from baryon.provisioners.program_credentials import AwsKeys
from baryon.runner import Runner
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings
from baryon.store.applied_sections import AppliedSections
from tests.provisioners.conftest import LeaseLost, RecordingIO, cloud_client, identity

SERVICE_ROLE = "arn:aws:iam::123456789012:role/proton-service"
BUILD_ROLE = "arn:aws:iam::123456789012:role/codebuild-builds"
BUCKET = "baryon-codebuild-123456789012-us-east-1"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(
        Settings(
            data_dir=tmp_path / "data",
            codebuild_runs_on="aws",
            codebuild_poll_seconds=0.01,
            program_api_endpoint="https://baryon.example.com",
        )
    )
    yield runtime
    runtime.close()


class Roles:
    def __init__(self) -> None:
        self.assumed: list[str] = []

    def __call__(self, role_arn: str, session_name: str) -> AwsKeys:
        self.assumed.append(role_arn)
        return AwsKeys("ASIAROLE", "role-secret", "role-token")


class Clients:
    """Clients on the local cloud that record StartBuild's arguments and can fail a poll
    (standing in for a worker that dies while a build runs)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.started: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.updated: list[dict[str, Any]] = []
        self.polls_to_fail = 0
        # moto ends a build at its first BatchGetBuilds; this many polls see it running.
        self.polls_running = 0

    def __call__(self, keys: AwsKeys | None, service: str) -> Any:
        client = cloud_client(self.endpoint, service)
        events = client.meta.events
        events.register("provide-client-params.codebuild.StartBuild", self._started)
        events.register("provide-client-params.codebuild.StopBuild", self._stopped)
        events.register("provide-client-params.codebuild.UpdateProject", self._updated)
        events.register("before-call.codebuild.BatchGetBuilds", self._polled)
        events.register("after-call.codebuild.BatchGetBuilds", self._still_running)
        return client

    def _still_running(self, parsed: dict[str, Any], **_: Any) -> None:
        if self.polls_running and parsed.get("builds"):
            self.polls_running -= 1
            parsed["builds"][0]["buildStatus"] = "IN_PROGRESS"

    def _started(self, params: dict[str, Any], **_: Any) -> None:
        self.started.append(dict(params))

    def _updated(self, params: dict[str, Any], **_: Any) -> None:
        self.updated.append(dict(params))

    def _stopped(self, params: dict[str, Any], **_: Any) -> None:
        self.stopped.append(params["id"])

    def _polled(self, **_: Any) -> None:
        if self.polls_to_fail:
            self.polls_to_fail -= 1
            raise LeaseLost("the worker died while the build ran")


def provisioner(runtime: Runtime, roles: Roles, clients: Clients) -> CodeBuildOnAwsProvisioner:
    return CodeBuildOnAwsProvisioner(
        AwsCodeBuildConfig.from_settings(runtime.settings),
        ScopedKeys(runtime.db, runtime.box),
        AppliedSections(runtime.db, ProvisioningEngine.CODEBUILD),
        roles,
        clients,
    )


def section() -> RenderedSection:
    return RenderedSection(
        ProvisioningEngine.CODEBUILD,
        {"proton-inputs.json": '{"environment": {"name": "dev"}}', "lib/tool.sh": "echo tool"},
        None,
        BuildCommands(
            ("bash lib/tool.sh", "./deploy.sh"),
            ("./destroy.sh",),
            image="aws/codebuild/standard:7.0",
            variables={"STAGE": "beta"},
            secrets={"TOKEN": "my/secret:Token"},
            runtimes={"nodejs": 18},
            project_properties={"Environment": {"ComputeType": "BUILD_GENERAL1_MEDIUM"}},
        ),
    )


def resource(name: str) -> ResourceIdentity:
    return replace(identity(name), role_arn=SERVICE_ROLE, build_role_arn=BUILD_ROLE)


def the_project(endpoint: str, name: str) -> dict[str, Any]:
    projects = cloud_client(endpoint, "codebuild").batch_get_projects(names=[name])["projects"]
    assert len(projects) == 1
    project: dict[str, Any] = projects[0]
    return project


def test_a_deploy_makes_a_project_that_runs_the_commands_as_the_codebuild_role(
    runtime: Runtime, timed_cloud: LocalCloudProcess
) -> None:
    roles, clients, io = Roles(), Clients(timed_cloud.endpoint), RecordingIO()
    env = resource("aws-built")
    outcome = provisioner(runtime, roles, clients).deploy(DeployRequest(section(), env, "d-1"), io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.message
    assert roles.assumed == [SERVICE_ROLE]  # Baryon's calls: the service role's keys

    project = the_project(timed_cloud.endpoint, project_name(env))
    assert project["serviceRole"] == BUILD_ROLE
    assert project["environment"]["image"] == "aws/codebuild/standard:7.0"
    assert project["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"
    variables = {
        v["name"]: (v["value"], v["type"]) for v in project["environment"]["environmentVariables"]
    }
    assert variables["STAGE"] == ("beta", "PLAINTEXT")
    assert variables["TOKEN"] == ("my/secret:Token", "SECRETS_MANAGER")
    assert variables["RESOURCE_ARN"] == (env.arn, "PLAINTEXT")
    assert variables["AWS_ENDPOINT_URL_PROTON"] == ("https://baryon.example.com", "PLAINTEXT")
    assert PROTON_KEY_ID_VARIABLE not in variables  # the key goes to the build, not the project
    spec = json.loads(project["source"]["buildspec"])
    assert spec["phases"]["build"]["commands"] == ["bash lib/tool.sh", "./deploy.sh"]
    assert spec["phases"]["pre_build"]["commands"] == [PROTON_PROFILE_COMMAND]
    assert spec["phases"]["install"]["runtime-versions"] == {"nodejs": 18}
    assert project["source"]["location"] == f"{BUCKET}/{project_name(env)}/source.zip"

    body = (
        cloud_client(timed_cloud.endpoint, "s3")
        .get_object(Bucket=BUCKET, Key=f"{project_name(env)}/source.zip")["Body"]
        .read()
    )
    with zipfile.ZipFile(bytes_io.BytesIO(body)) as archive:
        assert archive.read("proton-inputs.json") == b'{"environment": {"name": "dev"}}'
        assert archive.read("lib/tool.sh") == b"echo tool"

    (started,) = clients.started
    key = {v["name"]: v["value"] for v in started["environmentVariablesOverride"]}
    assert CallerKeys(runtime.db, runtime.box).secret(key[PROTON_KEY_ID_VARIABLE]) is None


def test_a_resumed_deploy_waits_for_the_same_build(
    runtime: Runtime, timed_cloud: LocalCloudProcess
) -> None:
    roles, clients = Roles(), Clients(timed_cloud.endpoint)
    env = resource("aws-resumed")
    codebuild = provisioner(runtime, roles, clients)
    clients.polls_to_fail = 1
    with pytest.raises(LeaseLost):
        codebuild.deploy(DeployRequest(section(), env, "d-7"), RecordingIO())
    io = RecordingIO()
    outcome = codebuild.deploy(DeployRequest(section(), env, "d-7"), io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.message
    assert len(clients.started) == 1
    assert io.logged("Resuming")
    builds = cloud_client(timed_cloud.endpoint, "codebuild").list_builds_for_project(
        projectName=project_name(env)
    )["ids"]
    assert len(builds) == 1


def test_a_build_an_abandoned_deployment_left_running_is_stopped_before_the_next_starts(
    runtime: Runtime, timed_cloud: LocalCloudProcess
) -> None:
    roles, clients = Roles(), Clients(timed_cloud.endpoint)
    env = resource("aws-abandoned")
    codebuild = provisioner(runtime, roles, clients)
    clients.polls_to_fail = 1
    with pytest.raises(LeaseLost):  # deployment d-8 is given up while its build runs
        codebuild.deploy(DeployRequest(section(), env, "d-8"), RecordingIO())
    (abandoned,) = clients.started
    clients.polls_running = 1
    io = RecordingIO()
    outcome = codebuild.deploy(DeployRequest(section(), env, "d-9"), io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.message
    assert len(clients.started) == 2
    assert len(clients.stopped) == 1
    assert io.logged("left running by deployment d-8")
    key = {v["name"]: v["value"] for v in abandoned["environmentVariablesOverride"]}
    assert CallerKeys(runtime.db, runtime.box).secret(key[PROTON_KEY_ID_VARIABLE]) is None


def test_a_cancel_stops_the_build_and_ends_cancelled(
    runtime: Runtime, timed_cloud: LocalCloudProcess
) -> None:
    clients = Clients(timed_cloud.endpoint)
    io = RecordingIO(cancel_when=lambda _: True)
    request = DeployRequest(section(), resource("aws-cancelled"), "d-3")
    outcome = provisioner(runtime, Roles(), clients).deploy(request, io)
    assert outcome.status == OutcomeStatus.CANCELLED, outcome.message
    assert len(clients.stopped) == 1


def test_a_delete_runs_the_deprovision_commands_then_removes_the_project(
    runtime: Runtime, timed_cloud: LocalCloudProcess
) -> None:
    clients = Clients(timed_cloud.endpoint)
    codebuild = provisioner(runtime, Roles(), clients)
    env = resource("aws-deleted")
    deployed = codebuild.deploy(DeployRequest(section(), env, "d-1"), RecordingIO())
    assert deployed.status == OutcomeStatus.SUCCEEDED
    outcome = codebuild.destroy(identity("aws-deleted"), RecordingIO(deployment_id="d-2"))
    assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.message
    assert len(clients.started) == 2
    names = cloud_client(timed_cloud.endpoint, "codebuild").list_projects()["projects"]
    assert project_name(env) not in names
    assert codebuild.status(env) is None
    (update,) = clients.updated  # the project, now running the deprovision commands
    assert json.loads(update["source"]["buildspec"])["phases"]["build"]["commands"] == [
        "./destroy.sh"
    ]
    assert update["serviceRole"] == BUILD_ROLE


def test_a_resource_without_a_codebuild_role_fails_naming_it(
    runtime: Runtime, timed_cloud: LocalCloudProcess
) -> None:
    env = replace(resource("aws-roleless"), build_role_arn=None)
    outcome = provisioner(runtime, Roles(), Clients(timed_cloud.endpoint)).deploy(
        DeployRequest(section(), env, "d-1"), RecordingIO()
    )
    assert outcome.status == OutcomeStatus.FAILED
    assert "codebuildRoleArn" in (outcome.message or "")


def test_a_failed_build_names_its_failing_phase_and_quotes_its_log(
    timed_cloud: LocalCloudProcess,
) -> None:
    logs = cloud_client(timed_cloud.endpoint, "logs")
    logs.create_log_group(logGroupName="/aws/codebuild/failing")
    logs.create_log_stream(logGroupName="/aws/codebuild/failing", logStreamName="run-1")
    lines = ["[Container] Running command ./deploy.sh", "deploy.sh: quota exceeded"]
    now = int(time.time() * 1000)  # CloudWatch Logs refuses events weeks old
    logs.put_log_events(
        logGroupName="/aws/codebuild/failing",
        logStreamName="run-1",
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)],
    )
    build = {
        "id": "failing:1",
        "buildStatus": "FAILED",
        "phases": [
            {"phaseType": "INSTALL", "phaseStatus": "SUCCEEDED"},
            {
                "phaseType": "BUILD",
                "phaseStatus": "FAILED",
                "contexts": [{"message": "Error while executing command: ./deploy.sh"}],
            },
        ],
        "logs": {"groupName": "/aws/codebuild/failing", "streamName": "run-1"},
    }
    outcome = build_outcome(logs, build, Phase.PROVISION, RecordingIO())
    assert outcome.status == OutcomeStatus.FAILED
    assert "BUILD: Error while executing command: ./deploy.sh" in (outcome.message or "")
    assert (outcome.message or "").endswith("deploy.sh: quota exceeded")


def test_a_run_by_baryon_assumes_the_codebuild_role_when_there_is_one(tmp_path: Path) -> None:
    runtime = build_runtime(Settings(data_dir=tmp_path / "data", runner_work_root=str(tmp_path)))
    try:
        roles = Roles()
        outcome = CodeBuildProvisioner(
            CodeBuildConfig.from_settings(runtime.settings),
            Runner(runtime.settings),
            ScopedKeys(runtime.db, runtime.box),
            AppliedSections(runtime.db, ProvisioningEngine.CODEBUILD),
            roles,
            cloud_secret_reader(runtime.settings),
        ).deploy(
            DeployRequest(
                replace(section(), commands=BuildCommands(("true",), ("true",))),
                resource("runs-here"),
                "d-1",
            ),
            RecordingIO(),
        )
        assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.message
        assert roles.assumed == [BUILD_ROLE]
    finally:
        runtime.close()
