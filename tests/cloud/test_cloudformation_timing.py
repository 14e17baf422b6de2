"""The local cloud's CloudFormation with AWS's timing (`--stack-operation-seconds`), via boto3."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from baryon.cloud.process import LocalCloudProcess
from tests.support.local_cloud import client, settle, status

WINDOW = 1.0


def template(*names: str) -> str:
    """One SSM parameter per name, each with an output."""
    return json.dumps({
        "Resources": {
            n: {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": {"Fn::Sub": f"/${{AWS::StackName}}/{n}"},
                    "Type": "String",
                    "Value": n,
                },
            }
            for n in names
        },
        "Outputs": {n: {"Value": {"Ref": n}} for n in names},
    })  # fmt: skip


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudProcess]:
    logs = tmp_path_factory.mktemp("timed-cloud")
    process = LocalCloudProcess(
        state_file=None, log_file=logs / "cloud.log", stack_operation_seconds=WINDOW
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def cfn(cloud: LocalCloudProcess) -> Any:
    return client(cloud, "cloudformation")


def stack_events(cfn: Any, stack: str) -> list[str]:
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [e["ResourceStatus"] for e in reversed(events)]


def outputs(cfn: Any, stack: str) -> dict[str, str]:
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def test_create_and_update_are_in_progress_for_a_while(cfn: Any) -> None:
    cfn.create_stack(StackName="timed", TemplateBody=template("A"))
    assert status(cfn, "timed") == "CREATE_IN_PROGRESS"
    listed = {s["StackName"]: s["StackStatus"] for s in cfn.list_stacks()["StackSummaries"]}
    assert listed["timed"] == "CREATE_IN_PROGRESS"
    assert stack_events(cfn, "timed") == ["CREATE_IN_PROGRESS"]
    with pytest.raises(ClientError, match="is in CREATE_IN_PROGRESS state and can not be updated"):
        cfn.update_stack(StackName="timed", TemplateBody=template("A", "B"))

    assert settle(cfn, "timed") == "CREATE_COMPLETE"
    assert stack_events(cfn, "timed") == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]

    with pytest.raises(ClientError, match="No updates are to be performed"):
        cfn.update_stack(StackName="timed", TemplateBody=template("A"))
    cfn.update_stack(StackName="timed", TemplateBody=template("A", "B"))
    assert status(cfn, "timed") == "UPDATE_IN_PROGRESS"
    assert settle(cfn, "timed") == "UPDATE_COMPLETE"
    assert stack_events(cfn, "timed")[-2:] == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]
    assert set(outputs(cfn, "timed")) == {"A", "B"}


def test_cancel_update_restores_the_previous_stack(cloud: LocalCloudProcess, cfn: Any) -> None:
    ssm = client(cloud, "ssm")
    cfn.create_stack(StackName="cancelled", TemplateBody=template("A"))
    with pytest.raises(ClientError, match="CancelUpdateStack cannot be called from current"):
        cfn.cancel_update_stack(StackName="cancelled")  # a create cannot be cancelled
    settle(cfn, "cancelled")
    before = outputs(cfn, "cancelled")

    cfn.update_stack(StackName="cancelled", TemplateBody=template("A", "B"))
    cfn.cancel_update_stack(StackName="cancelled")
    assert status(cfn, "cancelled") == "UPDATE_ROLLBACK_IN_PROGRESS"
    assert settle(cfn, "cancelled") == "UPDATE_ROLLBACK_COMPLETE"
    assert stack_events(cfn, "cancelled")[-4:] == [
        "UPDATE_IN_PROGRESS",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
    ]
    assert outputs(cfn, "cancelled") == before
    # boto3 hands a JSON template body back parsed
    assert cfn.get_template(StackName="cancelled")["TemplateBody"] == json.loads(template("A"))
    with pytest.raises(ClientError, match="ParameterNotFound"):
        ssm.get_parameter(Name="/cancelled/B")  # the update's new resource is gone
    with pytest.raises(ClientError, match="CancelUpdateStack cannot be called from current"):
        cfn.cancel_update_stack(StackName="cancelled")

    # The resource the cancel removed comes back for real when deployed again.
    cfn.update_stack(StackName="cancelled", TemplateBody=template("A", "B"))
    assert settle(cfn, "cancelled") == "UPDATE_COMPLETE"
    assert ssm.get_parameter(Name="/cancelled/B")["Parameter"]["Value"] == "B"


def test_delete_is_in_progress_then_gone(cfn: Any) -> None:
    cfn.create_stack(StackName="deleted", TemplateBody=template("A"))
    cfn.delete_stack(StackName="deleted")  # during the create's window: just delete
    assert status(cfn, "deleted") == "DELETE_IN_PROGRESS"
    cfn.delete_stack(StackName="deleted")  # again: fine, as on AWS
    deadline = time.monotonic() + 60
    while True:
        try:
            status(cfn, "deleted")
        except ClientError as exc:
            assert "does not exist" in str(exc)
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    listed = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "deleted"]
    assert [s["StackStatus"] for s in listed] == ["DELETE_COMPLETE"]


def test_a_template_error_leaves_no_stack(cfn: Any) -> None:
    broken = json.dumps({
        "Resources": {
            "P": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/broken", "Type": "String", "Value": {"Ref": "Missing"}},
            }
        }
    })  # fmt: skip
    # moto alone answers HTTP 500 and keeps a stack stuck in CREATE_IN_PROGRESS.
    with pytest.raises(ClientError, match=r"Unresolved resource dependencies \[Missing\]"):
        cfn.create_stack(StackName="broken", TemplateBody=broken)
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName="broken")
    cfn.create_stack(StackName="broken", TemplateBody=template("A"))
    assert settle(cfn, "broken") == "CREATE_COMPLETE"


def test_a_failed_resource_rolls_the_create_back(cloud: LocalCloudProcess, cfn: Any) -> None:
    client(cloud, "s3").create_bucket(Bucket="taken-by-someone")
    body = json.dumps({
        "Resources": {
            "P": {"Type": "AWS::SSM::Parameter",
                  "Properties": {"Name": "/rolled-back", "Type": "String", "Value": "v"}},
            "B": {"Type": "AWS::S3::Bucket", "DependsOn": "P",
                  "Properties": {"BucketName": "taken-by-someone"}},
        }
    })  # fmt: skip
    cfn.create_stack(StackName="rolled-back", TemplateBody=body)
    assert status(cfn, "rolled-back") == "CREATE_IN_PROGRESS"
    assert settle(cfn, "rolled-back") == "ROLLBACK_COMPLETE"
    described = cfn.describe_stacks(StackName="rolled-back")["Stacks"][0]
    assert described["StackStatusReason"] == "The following resource(s) failed to create: [B]. "
    assert stack_events(cfn, "rolled-back") == [
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_COMPLETE",
    ]
    failed = cfn.describe_stack_events(StackName="rolled-back")["StackEvents"][2]
    assert (failed["LogicalResourceId"], failed["ResourceType"]) == ("B", "AWS::S3::Bucket")
    assert failed["ResourceStatusReason"].startswith("Resource handler returned message: ")
    assert "BucketAlreadyExists" in failed["ResourceStatusReason"]
    assert cfn.list_stack_resources(StackName="rolled-back")["StackResourceSummaries"] == []
    with pytest.raises(ClientError, match="ParameterNotFound"):
        client(cloud, "ssm").get_parameter(Name="/rolled-back")  # rolled back
    with pytest.raises(ClientError, match="ROLLBACK_COMPLETE state and can not be updated"):
        cfn.update_stack(StackName="rolled-back", TemplateBody=template("A"))


def test_windows_end_on_restart(tmp_path: Path) -> None:
    state = tmp_path / "cloud.state"
    cloud = LocalCloudProcess(
        state_file=state, log_file=tmp_path / "cloud.log", stack_operation_seconds=3600
    )
    try:
        cloud.start()
        cfn = client(cloud, "cloudformation")
        cfn.create_stack(StackName="restarted", TemplateBody=template("A"))
        assert status(cfn, "restarted") == "CREATE_IN_PROGRESS"
        assert cloud.stop() == 0

        cloud.stack_operation_seconds = 0
        cloud.start()
        cfn = client(cloud, "cloudformation")
        assert status(cfn, "restarted") == "CREATE_COMPLETE"
        assert stack_events(cfn, "restarted") == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    finally:
        cloud.stop()
