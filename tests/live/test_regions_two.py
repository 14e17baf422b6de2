"""One Baryon serving two regions keeps them apart, as AWS's regions are.

A request goes to the region its credential scope names (boto3's region_name, the CLI's
--region); each region has its own templates, environments, ARNs and stacks in the local
cloud's region of the same name, while one access key works in both (keys are global, as
IAM's are). A region it does not serve is refused with AWS's error naming the served ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.bundles import CFN_MANIFEST, ENV_SCHEMA, Registry, tar_gz
from tests.support.deploying import FAST, env_spec, stack, stack_outputs
from tests.support.processes import BaryonProcess, clean_environment, own_baryon

HOME, OTHER = "us-east-1", "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/proton"

server = own_baryon(
    "regions-two", env={"BARYON_REGION": HOME, "BARYON_REGIONS": f"{HOME}, {OTHER}"}
)

# A regional resource (a topic), so that the same environment name deploys in both regions.
TOPIC_CFN = """\
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: '{{ environment.name }}-events'
Outputs:
  TopicArn:
    Value: !Ref Topic
"""


def bundle() -> bytes:
    return tar_gz(
        {
            "schema/schema.yaml": ENV_SCHEMA,
            "infrastructure/manifest.yaml": CFN_MANIFEST,
            "infrastructure/cloudformation.yaml": TOPIC_CFN,
        }
    )


def aws(baryon: BaryonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """The real AWS CLI after `. D/env`, as a user runs it."""
    cli = Path(sys.executable).parent / "aws"
    script = f". {baryon.data_dir / 'env'} && {cli} " + " ".join(args)
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=clean_environment(), timeout=120
    )


def cli_json(baryon: BaryonProcess, *args: str) -> Any:
    done = aws(baryon, *args, "--output json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_template_created_in_one_region_is_not_listed_in_the_other(
    server: BaryonProcess,
) -> None:
    home = server.client("proton", region_name=HOME)
    other = server.client("proton", region_name=OTHER)
    home.create_environment_template(name="only-home", displayName="Home's")
    created = cli_json(
        server, f"proton create-environment-template --region {OTHER} --name only-other"
    )
    assert created["environmentTemplate"]["arn"] == (
        f"arn:aws:proton:{OTHER}:123456789012:environment-template/only-other"
    )

    home_names = {t["name"] for t in home.list_environment_templates()["templates"]}
    other_listed = cli_json(server, f"proton list-environment-templates --region {OTHER}")
    other_names = {t["name"] for t in other_listed["templates"]}
    assert "only-home" in home_names and "only-home" not in other_names
    assert "only-other" in other_names and "only-other" not in home_names
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.get_environment_template(name="only-home")
    missing = aws(server, f"proton get-environment-template --region {HOME} --name only-other")
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr


def test_the_same_names_deploy_into_each_region_of_the_local_cloud(
    server: BaryonProcess,
) -> None:
    for region in (HOME, OTHER):
        proton = server.client("proton", region_name=region)
        registry = Registry(proton, server.client("s3"))
        proton.create_environment_template(name="regional")
        version = registry.register("environment", "regional", bundle())
        assert version["status"] == "DRAFT", version.get("statusMessage")
        assert version["arn"].startswith(f"arn:aws:proton:{region}:")
        registry.publish("environment", "regional", version)
        created = proton.create_environment(
            name="everywhere",
            templateName="regional",
            templateMajorVersion="1",
            protonServiceRoleArn=ROLE,
            spec=env_spec(),
        )["environment"]
        assert created["arn"] == f"arn:aws:proton:{region}:123456789012:environment/everywhere"

    for region in (HOME, OTHER):
        proton = server.client("proton", region_name=region)
        proton.get_waiter("environment_deployed").wait(name="everywhere", WaiterConfig=FAST)
        outputs = {
            o["key"]: o["valueString"]
            for o in proton.list_environment_outputs(environmentName="everywhere")["outputs"]
        }
        assert outputs["TopicArn"].startswith(f"arn:aws:sns:{region}:123456789012:")
        found = stack(
            server.client("cloudformation", region_name=region), "environment", "everywhere"
        )
        assert found is not None and found["StackStatus"] == "CREATE_COMPLETE"
        assert found["StackId"].startswith(f"arn:aws:cloudformation:{region}:")
        assert stack_outputs(found)["TopicArn"] == outputs["TopicArn"]

    # Deleting in one region leaves the other's environment and stack alone.
    home = server.client("proton", region_name=HOME)
    home.delete_environment(name="everywhere")
    gone(home, "everywhere")
    assert (
        stack(server.client("cloudformation", region_name=HOME), "environment", "everywhere")
        is None
    )
    other = server.client("proton", region_name=OTHER)
    kept = other.get_environment(name="everywhere")["environment"]
    assert kept["deploymentStatus"] == "SUCCEEDED"
    assert stack(server.client("cloudformation", region_name=OTHER), "environment", "everywhere")


def gone(proton: Any, environment: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            proton.get_environment(name=environment)
        except proton.exceptions.ResourceNotFoundException:
            return
        assert time.monotonic() < deadline, f"{environment} is still there"
        time.sleep(0.2)


def test_a_region_this_baryon_does_not_serve_is_refused_naming_the_served_ones(
    server: BaryonProcess,
) -> None:
    with pytest.raises(ClientError) as caught:
        server.client("proton", region_name="ap-south-1").list_environments()
    error: dict[str, Any] = caught.value.response["Error"]
    assert error["Code"] == "InvalidSignatureException"
    assert error["Message"] == (
        "Credential should be scoped to a valid region, not 'ap-south-1'. "
        "This server serves 'eu-west-1', 'us-east-1'."
    )
    refused = aws(server, "proton list-environments --region ap-south-1")
    assert refused.returncode != 0 and "This server serves 'eu-west-1', 'us-east-1'." in (
        refused.stderr
    )
