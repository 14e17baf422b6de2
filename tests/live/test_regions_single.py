"""A Baryon whose one region is not us-east-1 works as one in us-east-1 does.

Started with BARYON_REGION=us-west-2 it makes its bundle bucket there (S3 needs a
LocationConstraint outside us-east-1), answers boto3 and the AWS CLI signed for us-west-2,
puts us-west-2 in every ARN, deploys into the local cloud's us-west-2 and refuses a request
signed for another region with AWS's error, naming the region it serves.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.bundles import Registry, env_bundle, tar_gz
from tests.support.deploying import FAST, env_spec, stack
from tests.support.processes import BaryonProcess, clean_environment, own_baryon

REGION = "us-west-2"
ROLE = "arn:aws:iam::123456789012:role/proton"

server = own_baryon("region-us-west-2", env={"BARYON_REGION": REGION})


def aws(baryon: BaryonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """The real AWS CLI after `. D/env`, as a user runs it."""
    cli = Path(sys.executable).parent / "aws"
    script = f". {baryon.data_dir / 'env'} && {cli} " + " ".join(args)
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=clean_environment(), timeout=120
    )


def test_the_env_file_names_the_region_and_the_bundle_bucket_is_made_in_it(
    server: BaryonProcess,
) -> None:
    assert server.exports["AWS_DEFAULT_REGION"] == REGION
    s3 = server.client("s3")
    location = s3.get_bucket_location(Bucket="baryon-bundles-123456789012")
    assert location["LocationConstraint"] == REGION


def test_a_template_published_and_an_environment_deployed_in_us_west_2(
    server: BaryonProcess,
) -> None:
    proton = server.client("proton")
    registry = Registry(proton, server.client("s3"))
    template = proton.create_environment_template(name="west")["environmentTemplate"]
    assert template["arn"] == "arn:aws:proton:us-west-2:123456789012:environment-template/west"
    version = registry.register("environment", "west", tar_gz(env_bundle()))
    assert version["status"] == "DRAFT", version.get("statusMessage")
    assert version["arn"].startswith("arn:aws:proton:us-west-2:")
    registry.publish("environment", "west", version)

    created = aws(
        server,
        "proton create-environment --region us-west-2 --name west-env --template-name west",
        f"--template-major-version 1 --proton-service-role-arn {ROLE}",
        f"--spec '{env_spec(size='large')}'",
    )
    assert created.returncode == 0, created.stderr
    assert '"arn": "arn:aws:proton:us-west-2:123456789012:environment/west-env"' in created.stdout
    proton.get_waiter("environment_deployed").wait(name="west-env", WaiterConfig=FAST)

    # The stack is in the local cloud's us-west-2, and not in its us-east-1.
    west = stack(server.client("cloudformation"), "environment", "west-env")
    assert west is not None and west["StackStatus"] == "CREATE_COMPLETE"
    assert west["StackId"].startswith("arn:aws:cloudformation:us-west-2:")
    east = server.client("cloudformation", region_name="us-east-1")
    assert stack(east, "environment", "west-env") is None

    listed = aws(server, "proton list-environments --region us-west-2 --output text")
    assert listed.returncode == 0, listed.stderr
    assert "arn:aws:proton:us-west-2:123456789012:environment/west-env" in listed.stdout


def test_a_request_signed_for_another_region_is_refused_naming_the_served_one(
    server: BaryonProcess,
) -> None:
    east = server.client("proton", region_name="us-east-1")
    with pytest.raises(ClientError) as caught:
        east.list_environment_templates()
    error: dict[str, Any] = caught.value.response["Error"]
    assert error["Code"] == "InvalidSignatureException"
    assert error["Message"] == (
        "Credential should be scoped to a valid region, not 'us-east-1'. "
        "This server serves 'us-west-2'."
    )
    refused = aws(server, "proton list-environment-templates --region eu-west-1")
    assert refused.returncode != 0
    assert "not 'eu-west-1'. This server serves 'us-west-2'." in refused.stderr
