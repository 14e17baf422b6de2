"""A resource that fails in the local cloud is named at once, as CloudFormation names it:
a *_FAILED event for that resource with the handler's message, then the stack's rollback,
whether stack operations are timed or instant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from baryon.cloud.process import LocalCloudProcess
from tests.support.local_cloud import client, reason, settle


@pytest.fixture(scope="module", params=[0.0, 1.0], ids=["instant", "timed"])
def cloud(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCloudProcess]:
    logs = tmp_path_factory.mktemp("failures-cloud")
    process = LocalCloudProcess(
        state_file=None, log_file=logs / "cloud.log", stack_operation_seconds=request.param
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def taken_bucket(cloud: LocalCloudProcess) -> str:
    client(cloud, "s3").create_bucket(Bucket="taken-by-someone-else")
    return "taken-by-someone-else"


def body(resources: dict[str, Any]) -> str:
    return json.dumps({"Resources": resources})


def parameter(name: str) -> dict[str, Any]:
    return {
        "Type": "AWS::SSM::Parameter",
        "Properties": {"Name": name, "Type": "String", "Value": "v"},
    }


def bucket(name: str | None = None) -> dict[str, Any]:
    return {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name} if name else {}}


def events(cfn: Any, stack: str, since: int = 0) -> list[tuple[str, str]]:
    """(logical id, status) of every event, oldest first."""
    described = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [(e["LogicalResourceId"], e["ResourceStatus"]) for e in reversed(described)][since:]


def failed_event(cfn: Any, stack: str) -> dict[str, Any]:
    described = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return next(
        e
        for e in described
        if e["ResourceStatus"].endswith("_FAILED")
        and e["ResourceType"] != "AWS::CloudFormation::Stack"
    )


def test_a_failed_create_names_the_resource_and_rolls_back(
    cloud: LocalCloudProcess, taken_bucket: str
) -> None:
    cfn = client(cloud, "cloudformation")
    template = body(
        {"P": parameter("/failed-create"), "B": bucket(taken_bucket) | {"DependsOn": "P"}}
    )
    cfn.create_stack(StackName="failed-create", TemplateBody=template)

    assert settle(cfn, "failed-create") == "ROLLBACK_COMPLETE"
    assert reason(cfn, "failed-create") == "The following resource(s) failed to create: [B]. "
    assert events(cfn, "failed-create") == [
        ("failed-create", "CREATE_IN_PROGRESS"),
        ("B", "CREATE_FAILED"),
        ("failed-create", "ROLLBACK_IN_PROGRESS"),
        ("failed-create", "ROLLBACK_COMPLETE"),
    ]
    failed = failed_event(cfn, "failed-create")
    assert failed["ResourceType"] == "AWS::S3::Bucket"
    assert failed["ResourceStatusReason"].startswith('Resource handler returned message: "')
    assert "BucketAlreadyExists" in failed["ResourceStatusReason"]
    assert cfn.list_stack_resources(StackName="failed-create")["StackResourceSummaries"] == []


def test_a_failed_update_names_the_resource_and_rolls_back(
    cloud: LocalCloudProcess, taken_bucket: str
) -> None:
    cfn = client(cloud, "cloudformation")
    cfn.create_stack(StackName="failed-update", TemplateBody=body({"B": bucket("mine-to-rename")}))
    assert settle(cfn, "failed-update") == "CREATE_COMPLETE"
    before = len(events(cfn, "failed-update"))

    # Renaming the bucket replaces it, and the new name is someone else's.
    cfn.update_stack(StackName="failed-update", TemplateBody=body({"B": bucket(taken_bucket)}))

    assert settle(cfn, "failed-update") == "UPDATE_ROLLBACK_COMPLETE"
    assert events(cfn, "failed-update", since=before) == [
        ("failed-update", "UPDATE_IN_PROGRESS"),
        ("B", "UPDATE_FAILED"),
        ("failed-update", "UPDATE_ROLLBACK_IN_PROGRESS"),
        ("failed-update", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
        ("failed-update", "UPDATE_ROLLBACK_COMPLETE"),
    ]
    assert reason(cfn, "failed-update") == "The following resource(s) failed to update: [B]. "
    assert "BucketAlreadyExists" in failed_event(cfn, "failed-update")["ResourceStatusReason"]
    client(cloud, "s3").head_bucket(Bucket="mine-to-rename")  # still there


def test_an_added_resource_that_fails_is_a_failed_create(
    cloud: LocalCloudProcess, taken_bucket: str
) -> None:
    cfn = client(cloud, "cloudformation")
    cfn.create_stack(StackName="failed-add", TemplateBody=body({"P": parameter("/failed-add")}))
    assert settle(cfn, "failed-add") == "CREATE_COMPLETE"

    template = body({"P": parameter("/failed-add"), "B": bucket(taken_bucket)})
    cfn.update_stack(StackName="failed-add", TemplateBody=template)

    assert settle(cfn, "failed-add") == "UPDATE_ROLLBACK_COMPLETE"
    assert reason(cfn, "failed-add") == "The following resource(s) failed to create: [B]. "
    assert failed_event(cfn, "failed-add")["LogicalResourceId"] == "B"


def test_a_failed_delete_names_the_resource_and_keeps_the_stack(cloud: LocalCloudProcess) -> None:
    cfn, s3 = client(cloud, "cloudformation"), client(cloud, "s3")
    cfn.create_stack(StackName="failed-delete", TemplateBody=body({"B": bucket("kept-full")}))
    assert settle(cfn, "failed-delete") == "CREATE_COMPLETE"
    s3.put_object(Bucket="kept-full", Key="object", Body=b"data")

    cfn.delete_stack(StackName="failed-delete")

    assert settle(cfn, "failed-delete") == "DELETE_FAILED"
    assert reason(cfn, "failed-delete") == "The following resource(s) failed to delete: [B]. "
    assert events(cfn, "failed-delete")[-3:] == [
        ("failed-delete", "DELETE_IN_PROGRESS"),
        ("B", "DELETE_FAILED"),
        ("failed-delete", "DELETE_FAILED"),
    ]
    assert "BucketNotEmpty" in failed_event(cfn, "failed-delete")["ResourceStatusReason"]

    s3.delete_object(Bucket="kept-full", Key="object")
    cfn.delete_stack(StackName="failed-delete")
    remaining = [
        s["StackStatus"]
        for s in cfn.list_stacks()["StackSummaries"]
        if s["StackName"] == "failed-delete"
    ]
    assert remaining in (["DELETE_IN_PROGRESS"], ["DELETE_COMPLETE"])
