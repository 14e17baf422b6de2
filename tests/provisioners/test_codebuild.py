"""The CodeBuild provisioner with the real runner and a real store, no API server: what a
run's commands see, what a delete runs, and how a failure reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from baryon.auth.scoped_keys import ScopedKeys
from baryon.cloud.process import LocalCloudProcess
from baryon.provisioners import DeployRequest, OutcomeStatus, ProvisioningEngine
from baryon.provisioners.base import BuildCommands, RenderedSection
from baryon.provisioners.codebuild import (
    CodeBuildConfig,
    CodeBuildProvisioner,
    SecretReader,
    SecretReference,
    cloud_secret_reader,
    parse_secret_reference,
)
from baryon.provisioners.program_credentials import AwsKeys
from baryon.runner import Runner
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings
from baryon.store.applied_sections import AppliedSections
from tests.provisioners.conftest import RecordingIO, cloud_client, identity

ROLE = "arn:aws:iam::123456789012:role/codebuild-runs"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(Settings(data_dir=tmp_path / "data", runner_work_root=str(tmp_path)))
    yield runtime
    runtime.close()


class Roles:
    """Stands in for the cloud's STS: records which roles were assumed."""

    def __init__(self) -> None:
        self.assumed: list[str] = []

    def __call__(self, role_arn: str, session_name: str) -> AwsKeys:
        self.assumed.append(role_arn)
        return AwsKeys("ASIAROLE", "role-secret", "role-token")


def no_secrets(keys: AwsKeys | None, reference: SecretReference) -> str:
    raise AssertionError(f"no secret was to be read, yet {reference} was")


def provisioner(
    runtime: Runtime,
    roles: Roles,
    read_secret: SecretReader = no_secrets,
    settings: Settings | None = None,
) -> CodeBuildProvisioner:
    """Without cloud keys in the settings, runs get the resource's role, as on real AWS."""
    settings = settings or runtime.settings
    return CodeBuildProvisioner(
        CodeBuildConfig.from_settings(settings),
        Runner(settings),
        ScopedKeys(runtime.db, runtime.box),
        AppliedSections(runtime.db, ProvisioningEngine.CODEBUILD),
        roles,
        read_secret,
    )


def section(
    provision: list[str], deprovision: list[str], secrets: dict[str, str] | None = None
) -> RenderedSection:
    return RenderedSection(
        ProvisioningEngine.CODEBUILD,
        {"proton-inputs.json": '{"environment": {"name": "dev"}}', "lib/tool.sh": "echo tool"},
        None,
        BuildCommands(
            tuple(provision), tuple(deprovision), variables={"STAGE": "beta"}, secrets=secrets or {}
        ),
    )


def test_commands_see_their_files_variables_and_both_profiles(runtime: Runtime) -> None:
    roles, io = Roles(), RecordingIO()
    resource = replace(identity("dev"), role_arn=ROLE)
    commands = section(
        [
            "bash lib/tool.sh",
            'echo "stage=$STAGE arn=$RESOURCE_ARN region=$AWS_DEFAULT_REGION"',
            "grep -c aws_access_key_id .aws/credentials",
            "grep -A3 '^\\[default\\]' .aws/credentials | grep -q ASIAROLE && echo default=cloud",
            'echo \'{"Stage": "from the file"}\' > proton-outputs.json',
        ],
        ["echo removing"],
    )
    outcome = provisioner(runtime, roles).deploy(DeployRequest(commands, resource, "d-1"), io)
    assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.message
    assert outcome.outputs == {"Stage": "from the file"}
    assert roles.assumed == [ROLE]
    assert io.logged("tool")
    assert io.logged(f"stage=beta arn={resource.arn} region=us-east-1")
    assert "3" in io.lines  # proton, cloud and default
    assert io.logged("default=cloud")


def test_a_delete_runs_the_last_deprovision_commands_as_the_last_role(runtime: Runtime) -> None:
    roles = Roles()
    cb = provisioner(runtime, roles)
    resource = replace(identity("dev"), role_arn=ROLE)
    deployed = cb.deploy(
        DeployRequest(section(["true"], ["echo deprovisioning $RESOURCE_ARN"]), resource, "d-1"),
        RecordingIO(),
    )
    assert deployed.status == OutcomeStatus.SUCCEEDED
    io = RecordingIO()
    # A delete's identity carries no role.
    assert cb.destroy(identity("dev"), io).status == OutcomeStatus.SUCCEEDED
    assert io.logged(f"deprovisioning {resource.arn}")
    assert roles.assumed == [ROLE, ROLE]
    assert cb.status(identity("dev")) is None
    again = RecordingIO()
    assert cb.destroy(identity("dev"), again).status == OutcomeStatus.SUCCEEDED
    assert not again.logged("deprovisioning")


def test_a_failing_command_names_itself_and_quotes_its_output_and_the_key_is_gone(
    runtime: Runtime,
) -> None:
    commands = section(["echo one", "echo 'the last words' >&2; exit 4", "echo never"], [])
    io = RecordingIO()
    outcome = provisioner(runtime, Roles()).deploy(
        DeployRequest(commands, identity("dev"), "d-1"), io
    )
    assert outcome.status == OutcomeStatus.FAILED
    assert outcome.message is not None
    assert outcome.message.startswith("The provision command 2 (echo 'the last words' >&2; exit 4)")
    assert "status 4" in outcome.message and "the last words" in outcome.message
    assert not io.logged("never")
    # The run's scoped key was revoked when the run ended.
    with runtime.db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM scoped_access_keys")).scalar() == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("team/token", SecretReference("team/token")),
        ("team/token:Secret", SecretReference("team/token", "Secret")),
        (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/token-AbCdEf:Secret::v1",
            SecretReference(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/token-AbCdEf",
                "Secret",
                "",
                "v1",
            ),
        ),
    ],
)
def test_a_secret_reference_reads_as_codebuild_reads_it(
    text: str, expected: SecretReference
) -> None:
    assert parse_secret_reference(text) == expected


def test_secrets_manager_variables_come_from_the_clouds_secrets(
    runtime: Runtime, timed_cloud: LocalCloudProcess
) -> None:
    secrets = cloud_client(timed_cloud.endpoint, "secretsmanager")
    secrets.create_secret(Name="team/token", SecretString=json.dumps({"Secret": "s3cr3t"}))
    settings = runtime.settings.replace(
        cloud_endpoint=timed_cloud.endpoint,
        cloud_access_key_id="testing",
        cloud_secret_access_key="testing",
    )
    # The value to compare with is in a file, so that no command line (they are logged) holds it.
    with_expected = section(
        ['[ "$TOKEN" = "$(cat expected)" ] && echo the token arrived'],
        [],
        secrets={"TOKEN": "team/token:Secret"},
    )
    commands = replace(with_expected, files={**with_expected.files, "expected": "s3cr3t"})
    io = RecordingIO()
    outcome = provisioner(runtime, Roles(), cloud_secret_reader(settings), settings).deploy(
        DeployRequest(commands, identity("dev"), "d-1"), io
    )
    assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.message
    assert io.logged("the token arrived")
    assert not io.logged("s3cr3t")

    missing = section(["true"], [], secrets={"TOKEN": "team/nothing"})
    failed = provisioner(runtime, Roles(), cloud_secret_reader(settings), settings).deploy(
        DeployRequest(missing, identity("dev"), "d-2"), RecordingIO()
    )
    assert failed.status == OutcomeStatus.FAILED
    assert failed.message is not None
    assert failed.message.startswith("env.secrets_manager TOKEN: team/nothing")
