"""CodeBuild bundles deploy through Baryon as Proton ran them: the manifest's commands run in
order with ``proton-inputs.json`` beside them, report outputs with the AWS CLI's
``aws proton notify-resource-deployment-status-change`` (or leave ``proton-outputs.json``),
and reach the cloud with its own credentials; the exit status decides.

The bundles are the test's own shell scripts (python3 reads the inputs file). The AWS CLI is
the one in this checkout's virtual environment, put on the PATH programs get. In embedded
mode the programs' default AWS keys are the run's scoped key, which the local cloud accepts
too, so the scripts call ``aws proton`` and ``aws s3api`` as AWS's samples do; profile
``proton`` names the scoped key explicitly (what a real cloud's runs need).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.bundles import ENV_SCHEMA, SVC_SCHEMA, Registry
from tests.support.deploying import (
    FAST,
    REPO,
    env_spec,
    instance_settled,
    outputs,
    pipeline_settled,
    publish_environment_template,
    publish_service_template,
    service_spec,
    settled,
)
from tests.support.processes import BaryonProcess, own_baryon

ROLE = "arn:aws:iam::123456789012:role/proton-service"
VENV_BIN = str(Path(sys.executable).parent)

server = own_baryon(
    "codebuild-deployments",
    env={"PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"},
)


def manifest(provision: list[str], deprovision: list[str]) -> str:
    lines = [
        "infrastructure:",
        "  templates:",
        "    - rendering_engine: codebuild",
        "      settings:",
        "        image: aws/codebuild/amazonlinux2-x86_64-standard:4.0",
        "        env:",
        "          variables:",
        "            GREETING: hello from the manifest",
        "        provision:",
        *[f"          - {command}" for command in provision],
        "        deprovision:",
        *[f"          - {command}" for command in deprovision],
    ]
    return "\n".join(lines) + "\n"


# Reads a value out of proton-inputs.json: `input environment.inputs.size`.
INPUT_FUNCTION = """\
input() {
  python3 -c 'import json, sys
value = json.load(open("proton-inputs.json"))
for part in sys.argv[1].split("."):
    value = value[int(part)] if isinstance(value, list) else value[part]
print(value if isinstance(value, str) else json.dumps(value, sort_keys=True))' "$1"
}
# As AWS's samples call it: no --profile (embedded mode's default keys are the run's key).
notify() {
  aws proton notify-resource-deployment-status-change --resource-arn "$RESOURCE_ARN" \\
    --outputs "$1"
}
"""

ENV_PROVISION = (
    INPUT_FUNCTION
    + """\
set -eu
size=$(input environment.inputs.size)
name=$(input environment.name)
echo "provisioning $RESOURCE_ARN ($GREETING), size $size"
aws s3api create-bucket --bucket "cb-$name-artifacts" >/dev/null
# The key may act on this environment alone.
if aws proton get-environment --profile proton --name someone-else 2>probe.err; then
  probe=allowed
elif grep -q AccessDeniedException probe.err; then
  probe=denied
else
  probe="failed: $(cat probe.err)"
fi
key_id=$(aws configure get aws_access_key_id --profile proton)
secret=$(aws configure get aws_secret_access_key --profile proton)
notify "[{\\"key\\":\\"Size\\",\\"valueString\\":\\"$size\\"},
  {\\"key\\":\\"BucketName\\",\\"valueString\\":\\"cb-$name-artifacts\\"},
  {\\"key\\":\\"Probe\\",\\"valueString\\":\\"$probe\\"},
  {\\"key\\":\\"KeyId\\",\\"valueString\\":\\"$key_id\\"},
  {\\"key\\":\\"KeySecret\\",\\"valueString\\":\\"$secret\\"}]"
aws proton get-environment --profile proton --name "$name" --query environment.name
"""
)

ENV_DEPROVISION = (
    INPUT_FUNCTION
    + """\
set -eu
aws s3api delete-bucket --bucket "cb-$(input environment.name)-artifacts"
echo deprovisioned
"""
)

INSTANCE_PROVISION = (
    INPUT_FUNCTION
    + """\
set -eu
env_size=$(input environment.outputs.Size)
port=$(input service_instance.inputs.port)
notify "[{\\"key\\":\\"EnvSize\\",\\"valueString\\":\\"$env_size\\"}]"
# A later report of the same key wins; the outputs file wins over both.
notify "[{\\"key\\":\\"Stage\\",\\"valueString\\":\\"reported\\"}]"
printf '{"Port": %s, "Stage": "from the file"}' "$port" > proton-outputs.json
"""
)

PIPELINE_PROVISION = (
    INPUT_FUNCTION
    + """\
set -eu
summary=$(python3 -c 'import json
doc = json.load(open("proton-inputs.json"))
print(";".join(sorted(i["name"] + "=" + i["outputs"]["Port"] + "@" + i["outputs"]["EnvSize"]
                      for i in doc["service_instances"])))')
notify "[{\\"key\\":\\"Instances\\",\\"valueString\\":\\"$summary\\"},
  {\\"key\\":\\"Dockerfile\\",\\"valueString\\":\\"$(input pipeline.inputs.dockerfile)\\"}]"
"""
)


def env_bundle(version_line: str = "") -> dict[str, str]:
    provision = ENV_PROVISION + version_line
    return {
        "schema/schema.yaml": ENV_SCHEMA,
        "infrastructure/manifest.yaml": manifest(["bash provision.sh"], ["bash deprovision.sh"]),
        "infrastructure/provision.sh": provision,
        "infrastructure/deprovision.sh": ENV_DEPROVISION,
    }


def service_bundle() -> dict[str, str]:
    return {
        "schema/schema.yaml": SVC_SCHEMA,
        "instance_infrastructure/manifest.yaml": manifest(
            ["bash provision.sh"], ["echo instance gone"]
        ),
        "instance_infrastructure/provision.sh": INSTANCE_PROVISION,
        "pipeline_infrastructure/manifest.yaml": manifest(
            ["bash provision.sh"], ["echo pipeline gone"]
        ),
        "pipeline_infrastructure/provision.sh": PIPELINE_PROVISION,
    }


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def registry(server: BaryonProcess, proton: Any) -> Registry:
    return Registry(proton, server.client("s3"))


@pytest.fixture(scope="module")
def environment(registry: Registry, proton: Any) -> dict[str, Any]:
    publish_environment_template(registry, "cb-env", env_bundle())
    proton.create_environment(
        name="cb-dev",
        templateName="cb-env",
        templateMajorVersion="1",
        protonServiceRoleArn=ROLE,
        spec=env_spec(size="large"),
    )
    return settled(lambda: proton.get_environment(name="cb-dev"), "environment")


def env_outputs(proton: Any, name: str) -> dict[str, str]:
    return outputs(proton.list_environment_outputs(environmentName=name)["outputs"])


def test_a_codebuild_environment_deploys_with_the_outputs_its_commands_report(
    server: BaryonProcess, proton: Any, environment: dict[str, Any]
) -> None:
    assert environment["deploymentStatus"] == "SUCCEEDED", environment
    found = env_outputs(proton, "cb-dev")
    assert found["Size"] == "large"
    assert found["BucketName"] == "cb-cb-dev-artifacts"
    # The cloud's own credentials made the bucket: it is there.
    server.client("s3").head_bucket(Bucket="cb-cb-dev-artifacts")


def test_the_run_key_may_act_only_on_its_resource_and_is_revoked_after_the_run(
    server: BaryonProcess, proton: Any, environment: dict[str, Any]
) -> None:
    found = env_outputs(proton, "cb-dev")
    assert found["Probe"] == "denied"
    leaked = boto3.session.Session().client(
        "proton",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=found["KeyId"],
        aws_secret_access_key=found["KeySecret"],
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as caught:
        leaked.get_environment(name="cb-dev")
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_outputs_flow_from_the_environment_to_instances_and_the_pipeline(
    registry: Registry, proton: Any, environment: dict[str, Any]
) -> None:
    publish_service_template(registry, "cb-svc", [("cb-env", "1")], service_bundle())
    proton.create_service(
        name="cb-web",
        templateName="cb-svc",
        templateMajorVersion="1",
        spec=service_spec(
            [("one", "cb-dev", {"port": 8080}), ("two", "cb-dev", {"port": 9090})],
            pipeline={"dockerfile": "Dockerfile.cb"},
        ),
        **REPO,
    )
    for name, port in (("one", "8080"), ("two", "9090")):
        instance = instance_settled(proton, "cb-web", name)
        assert instance["deploymentStatus"] == "SUCCEEDED", instance
        found = outputs(
            proton.list_service_instance_outputs(serviceName="cb-web", serviceInstanceName=name)[
                "outputs"
            ]
        )
        assert found == {"EnvSize": "large", "Port": port, "Stage": "from the file"}
    pipeline = pipeline_settled(proton, "cb-web")
    assert pipeline["deploymentStatus"] == "SUCCEEDED", pipeline
    found = outputs(proton.list_service_pipeline_outputs(serviceName="cb-web")["outputs"])
    assert found == {"Instances": "one=8080@large;two=9090@large", "Dockerfile": "Dockerfile.cb"}


def test_an_environment_moves_to_a_new_minor_version(
    registry: Registry, proton: Any, environment: dict[str, Any]
) -> None:
    publish_environment_template(
        registry,
        "cb-env",
        env_bundle('notify \'[{"key":"Version","valueString":"1.1"}]\'\n'),
        major="1",
    )
    proton.update_environment(
        name="cb-dev",
        deploymentType="MINOR_VERSION",
        templateMajorVersion="1",
        templateMinorVersion="1",
    )
    updated = settled(lambda: proton.get_environment(name="cb-dev"), "environment")
    assert updated["deploymentStatus"] == "SUCCEEDED", updated
    assert updated["templateMinorVersion"] == "1"
    found = env_outputs(proton, "cb-dev")
    assert found["Version"] == "1.1" and found["Size"] == "large"


def test_a_failing_command_ends_failed_with_its_last_output_lines(
    registry: Registry, proton: Any
) -> None:
    files = env_bundle()
    # A SUCCEEDED report does not end the deployment: the commands' exit status does.
    files["infrastructure/manifest.yaml"] = manifest(
        ["echo first step ran", "bash report.sh", "bash fail.sh", "echo never"],
        ["echo nothing to remove"],
    )
    files["infrastructure/report.sh"] = (
        "aws proton notify-resource-deployment-status-change --profile proton "
        '--resource-arn "$RESOURCE_ARN" --status SUCCEEDED --status-message "all good"\n'
    )
    files["infrastructure/fail.sh"] = (
        "echo checking the disk\necho 'the disk is on fire' >&2\nexit 3\n"
    )
    publish_environment_template(registry, "cb-failing", files)
    proton.create_environment(
        name="cb-broken",
        templateName="cb-failing",
        templateMajorVersion="1",
        protonServiceRoleArn=ROLE,
        spec=env_spec(),
    )
    failed = settled(lambda: proton.get_environment(name="cb-broken"), "environment")
    assert failed["deploymentStatus"] == "FAILED"
    message = failed["deploymentStatusMessage"]
    assert "bash fail.sh" in message and "3" in message
    assert "checking the disk" in message and "the disk is on fire" in message
    assert "never" not in message


def test_a_cancelled_deployment_stops_its_running_command(
    server: BaryonProcess, registry: Registry, proton: Any
) -> None:
    files = env_bundle()
    # The bucket says the command is running (and so the cancel cannot come before it).
    files["infrastructure/manifest.yaml"] = manifest(
        ["aws s3api create-bucket --bucket cb-slow-started && sleep 600", "echo never"],
        ["echo nothing to remove"],
    )
    publish_environment_template(registry, "cb-slow", files)
    proton.create_environment(
        name="cb-slow",
        templateName="cb-slow",
        templateMajorVersion="1",
        protonServiceRoleArn=ROLE,
        spec=env_spec(),
    )
    s3 = server.client("s3")
    for _ in range(480):
        if any(b["Name"] == "cb-slow-started" for b in s3.list_buckets()["Buckets"]):
            break
        time.sleep(0.25)
    proton.cancel_environment_deployment(environmentName="cb-slow")
    cancelled = settled(lambda: proton.get_environment(name="cb-slow"), "environment")
    assert cancelled["deploymentStatus"] == "CANCELLED", cancelled
    assert "sleep 600" in cancelled["deploymentStatusMessage"]


def test_a_report_on_a_resource_with_no_deployment_in_progress_is_refused(
    proton: Any, environment: dict[str, Any]
) -> None:
    with pytest.raises(proton.exceptions.ConflictException, match="no deployment in progress"):
        proton.notify_resource_deployment_status_change(
            resourceArn=environment["arn"], status="SUCCEEDED"
        )
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.notify_resource_deployment_status_change(
            resourceArn=environment["arn"].replace("cb-dev", "nowhere")
        )


def test_deleting_runs_the_deprovision_commands(
    server: BaryonProcess, proton: Any, environment: dict[str, Any]
) -> None:
    proton.delete_service(name="cb-web")
    proton.get_waiter("service_deleted").wait(name="cb-web", WaiterConfig=FAST)
    proton.delete_environment(name="cb-dev")
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        for _ in range(240):
            assert proton.get_environment(name="cb-dev")["environment"]["deploymentStatus"] in (
                "DELETE_IN_PROGRESS",
                "SUCCEEDED",
            )
            time.sleep(0.25)
    with pytest.raises(ClientError) as caught:
        server.client("s3").head_bucket(Bucket="cb-cb-dev-artifacts")
    assert caught.value.response["Error"]["Code"] in ("404", "NoSuchBucket")
