"""CloudFormationProvisioner on an adopted stack (ResourceIdentity.stack_name), against the
local cloud: a stack made outside Baryon, as Proton made its own, is updated in place keeping
its tags and parameter values, reported and deleted by its own name; one that is gone or dead
is never made again or replaced."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Any

import pytest

from baryon.provisioners import CloudFormationProvisioner, ResourceIdentity, resource_stack_name
from tests.provisioners.conftest import RecordingIO, cloud_client, identity, spec
from tests.provisioners.templates import taken_bucket_template
from tests.support.local_cloud import settle

PROTON_ACCOUNT = "111122223333"


def _template(version: str) -> str:
    """A parameter (which Proton's own templates never needed, but a stack may have) and an
    SSM parameter whose value says which version deployed."""
    return json.dumps({
        "Parameters": {"Owner": {"Type": "String", "Default": "platform"}},
        "Resources": {
            "Setting": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    # SSM reserves names that begin with "aws", as a Proton stack name does.
                    "Name": {"Fn::Sub": "/settings/${AWS::StackName}"},
                    "Type": "String",
                    "Value": version,
                },
            }
        },
        "Outputs": {"Version": {"Value": version}, "Owner": {"Value": {"Ref": "Owner"}}},
    })  # fmt: skip


@pytest.fixture
def adopted(request: pytest.FixtureRequest) -> ResourceIdentity:
    """An environment whose stack has a Proton-like name, with Baryon's managed tags."""
    env = f"adopt-{uuid.uuid4().hex[:8]}"
    baryon_tags = {
        "proton:account": "123456789012",
        "proton:template": "arn:aws:proton:us-east-1:123456789012:environment-template/net",
        "proton:environment": f"arn:aws:proton:us-east-1:123456789012:environment/{env}",
    }
    stack_name = f"AWSProton-{env}-cloudformation--QYWPQLSESXEMRBY"
    return replace(identity(env, tags=baryon_tags), stack_name=stack_name)


def _proton_stack(cfn: Any, resource: ResourceIdentity, template: str) -> dict[str, Any]:
    """The stack as Proton left it: its tags name Proton's account; one parameter set."""
    env = resource.names[0]
    cfn.create_stack(
        StackName=resource.stack_name,
        TemplateBody=template,
        Parameters=[{"ParameterKey": "Owner", "ParameterValue": "team-a"}],
        Tags=[
            {"Key": "proton:account", "Value": PROTON_ACCOUNT},
            {
                "Key": "proton:environment",
                "Value": f"arn:aws:proton:us-east-1:{PROTON_ACCOUNT}:environment/{env}",
            },
            {"Key": "team", "Value": "payments"},
        ],
    )
    settle(cfn, str(resource.stack_name))
    stack: dict[str, Any] = cfn.describe_stacks(StackName=resource.stack_name)["Stacks"][0]
    return stack


def _named(cfn: Any, name: str) -> list[str]:
    pages = cfn.get_paginator("list_stacks").paginate()
    return [
        s["StackStatus"]
        for page in pages
        for s in page["StackSummaries"]
        if s["StackName"] == name and s["StackStatus"] != "DELETE_COMPLETE"
    ]


def test_an_adopted_stack_is_updated_in_place_keeping_its_tags_and_parameter_values(
    provisioner: CloudFormationProvisioner, cfn: Any, adopted: ResourceIdentity
) -> None:
    before = _proton_stack(cfn, adopted, _template("v1"))
    assert resource_stack_name(adopted) == adopted.stack_name

    io = RecordingIO()
    updated = provisioner.deploy(spec(adopted, _template("v2")), io)

    assert updated.status == "SUCCEEDED", updated.message
    assert updated.outputs == {"Version": "v2", "Owner": "team-a"}
    assert io.logged("adopted: updated in place, never replaced")
    after = cfn.describe_stacks(StackName=before["StackId"])["Stacks"][0]
    assert (after["StackId"], after["StackStatus"]) == (before["StackId"], "UPDATE_COMPLETE")
    assert after["Parameters"] == [{"ParameterKey": "Owner", "ParameterValue": "team-a"}]
    tags = {t["Key"]: t["Value"] for t in after["Tags"]}
    # The stack's own tags stand (Proton's account and ARNs); Baryon's fill only what lacked.
    assert tags == {
        "proton:account": PROTON_ACCOUNT,
        "proton:environment": f"arn:aws:proton:us-east-1:{PROTON_ACCOUNT}:environment/"
        + adopted.names[0],
        "team": "payments",
        "proton:template": adopted.tags["proton:template"],
    }
    assert _named(cfn, resource_stack_name(replace(adopted, stack_name=None))) == []

    status = provisioner.status(adopted)
    assert status is not None and status.status == "SUCCEEDED"
    assert status.outputs == updated.outputs

    deleted = provisioner.destroy(adopted, RecordingIO())
    assert deleted.status == "SUCCEEDED", deleted.message
    gone = cfn.describe_stacks(StackName=before["StackId"])["Stacks"][0]
    assert gone["StackStatus"] == "DELETE_COMPLETE"


def test_an_adopted_stack_that_is_gone_is_not_made_again(
    provisioner: CloudFormationProvisioner, cfn: Any, adopted: ResourceIdentity
) -> None:
    outcome = provisioner.deploy(spec(adopted, _template("v1")), RecordingIO())

    assert outcome.status == "FAILED"
    assert outcome.message is not None
    assert f"the adopted stack {adopted.stack_name} does not exist" in outcome.message
    assert _named(cfn, str(adopted.stack_name)) == []
    assert _named(cfn, resource_stack_name(replace(adopted, stack_name=None))) == []
    assert provisioner.status(adopted) is None
    # Deleting what is not there is the way out, as for any resource.
    assert provisioner.destroy(adopted, RecordingIO()).status == "SUCCEEDED"


def test_an_adopted_stack_that_failed_to_create_is_not_replaced(
    provisioner: CloudFormationProvisioner, cfn: Any, timed_cloud: Any, adopted: ResourceIdentity
) -> None:
    bucket = f"taken-{adopted.names[0]}"
    cloud_client(timed_cloud.endpoint, "s3").create_bucket(Bucket=bucket)
    cfn.create_stack(StackName=adopted.stack_name, TemplateBody=taken_bucket_template(bucket))
    assert settle(cfn, str(adopted.stack_name)) == "ROLLBACK_COMPLETE"
    stack_id = cfn.describe_stacks(StackName=adopted.stack_name)["Stacks"][0]["StackId"]

    outcome = provisioner.deploy(spec(adopted, _template("v1")), RecordingIO())

    assert (outcome.status, outcome.engine_status) == ("FAILED", "ROLLBACK_COMPLETE")
    assert outcome.message is not None and "does not delete an adopted stack" in outcome.message
    still = cfn.describe_stacks(StackName=adopted.stack_name)["Stacks"][0]
    assert (still["StackId"], still["StackStatus"]) == (stack_id, "ROLLBACK_COMPLETE")
    # A delete, asked for, still removes it.
    assert provisioner.destroy(adopted, RecordingIO()).status == "SUCCEEDED"
    assert _named(cfn, str(adopted.stack_name)) == []
