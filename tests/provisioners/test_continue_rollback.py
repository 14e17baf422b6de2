"""CloudFormationProvisioner.continue_rollback against the local cloud: an update that fails
and whose rollback fails too (the stack's bucket was deleted out of band) is reported as
such, naming every failed resource, and continuing the rollback skipping that bucket brings
the stack back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from baryon.provisioners import CloudFormationProvisioner, ResourceIdentity, resource_stack_name
from tests.provisioners.conftest import RecordingIO, cloud_client, identity, spec


def _template(name: str, version: str, *, taken: bool = False) -> str:
    resources: dict[str, Any] = {
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": f"{name}-drift", "Tags": [{"Key": "v", "Value": version}]},
        }
    }
    if taken:
        resources["Taken"] = {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": f"{name}-taken"},
        }
    return json.dumps({"Resources": resources})


@pytest.fixture
def resource(request: pytest.FixtureRequest) -> ResourceIdentity:
    return identity(request.node.name.replace("_", "-")[:40])


@pytest.fixture
def s3(timed_cloud: Any) -> Any:
    return cloud_client(timed_cloud.endpoint, "s3")


def _fail_with_its_rollback(
    provisioner: CloudFormationProvisioner, s3: Any, resource: ResourceIdentity
) -> tuple[Any, RecordingIO]:
    name = resource.names[0]
    created = provisioner.deploy(spec(resource, _template(name, "v1")), RecordingIO())
    assert created.status == "SUCCEEDED", created.message
    s3.delete_bucket(Bucket=f"{name}-drift")
    s3.create_bucket(Bucket=f"{name}-taken")
    io = RecordingIO()
    return provisioner.deploy(spec(resource, _template(name, "v2", taken=True), "d-2"), io), io


def test_a_failed_rollback_is_flagged_and_names_every_failed_resource(
    provisioner: CloudFormationProvisioner, s3: Any, resource: ResourceIdentity
) -> None:
    outcome, io = _fail_with_its_rollback(provisioner, s3, resource)

    assert outcome.status == "FAILED" and outcome.rollback_failed
    assert outcome.engine_status == "UPDATE_ROLLBACK_FAILED"
    assert outcome.message is not None
    assert "Taken (AWS::S3::Bucket) CREATE_FAILED" in outcome.message
    assert "Bucket (AWS::S3::Bucket) UPDATE_FAILED" in outcome.message
    assert "the rollback failed too" in outcome.message
    assert io.logged("Taken (AWS::S3::Bucket) CREATE_FAILED: ")
    assert io.logged("Bucket (AWS::S3::Bucket) UPDATE_FAILED: ")

    # A deploy onto the stuck stack says so at once, still flagged.
    again = provisioner.deploy(spec(resource, _template(resource.names[0], "v3")), RecordingIO())
    assert again.status == "FAILED" and again.rollback_failed


def test_continuing_the_rollback_fails_again_until_the_bucket_is_skipped(
    provisioner: CloudFormationProvisioner, s3: Any, resource: ResourceIdentity, cfn: Any
) -> None:
    _fail_with_its_rollback(provisioner, s3, resource)

    still = provisioner.continue_rollback(resource, [], RecordingIO())
    assert still.status == "FAILED" and still.rollback_failed
    assert still.message is not None and "NoSuchBucket" in still.message

    io = RecordingIO()
    done = provisioner.continue_rollback(resource, ["Bucket"], io)
    assert done.status == "SUCCEEDED", done.message
    assert done.engine_status == "UPDATE_ROLLBACK_COMPLETE"
    assert io.logged("skipping Bucket")
    stack = cfn.describe_stacks(StackName=resource_stack_name(resource))["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"

    # Re-run (as after a crash): the rollback is done, which is success again.
    assert provisioner.continue_rollback(resource, ["Bucket"], RecordingIO()).status == "SUCCEEDED"


def test_there_is_no_rollback_to_continue_for_a_healthy_or_missing_stack(
    provisioner: CloudFormationProvisioner, resource: ResourceIdentity
) -> None:
    missing = provisioner.continue_rollback(resource, [], RecordingIO())
    assert missing.status == "FAILED" and missing.message is not None
    assert "does not exist" in missing.message

    name = resource.names[0]
    assert provisioner.deploy(spec(resource, _template(name, "v1")), RecordingIO()).status == (
        "SUCCEEDED"
    )
    healthy = provisioner.continue_rollback(resource, [], RecordingIO())
    assert healthy.status == "FAILED" and not healthy.rollback_failed
    assert healthy.message is not None and "not UPDATE_ROLLBACK_FAILED" in healthy.message
