"""Drift in the local cloud: a queue attribute and a parameter changed behind the stack's back
show up through CloudFormation's own drift API with the property and both values, a
deleted queue is DELETED, a type the cloud does not model is NOT_CHECKED, and a REVERT_DRIFT
change set puts the template's values back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from baryon.cloud.process import LocalCloudProcess
from tests.support.local_cloud import client, settle

TEMPLATE = json.dumps(
    {
        "Parameters": {"Timeout": {"Type": "Number", "Default": 30}},
        "Resources": {
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"VisibilityTimeout": {"Ref": "Timeout"}, "DelaySeconds": 0},
            },
            "Setting": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Type": "String", "Value": "blue"},
            },
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "Orders"}},
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "Tags": [{"Key": "team", "Value": "payments"}],
                },
            },
            "Repository": {"Type": "AWS::ECR::Repository", "Properties": {}},
        },
    }
)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudProcess]:
    process = LocalCloudProcess(
        state_file=None, log_file=tmp_path_factory.mktemp("drift-cloud") / "cloud.log"
    )
    process.start()
    yield process
    process.stop()


def deploy(cloud: LocalCloudProcess, name: str) -> tuple[Any, dict[str, str]]:
    cfn = client(cloud, "cloudformation")
    cfn.create_stack(StackName=name, TemplateBody=TEMPLATE)
    assert settle(cfn, name) == "CREATE_COMPLETE"
    resources = cfn.describe_stack_resources(StackName=name)["StackResources"]
    return cfn, {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}


def detect(cfn: Any, name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    detection = cfn.detect_stack_drift(StackName=name)["StackDriftDetectionId"]
    status = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
    drifts = cfn.describe_stack_resource_drifts(StackName=name)["StackResourceDrifts"]
    return status, {d["LogicalResourceId"]: d for d in drifts}


def test_a_stack_nobody_touched_is_in_sync_and_unmodelled_types_are_not_checked(
    cloud: LocalCloudProcess,
) -> None:
    cfn, _ = deploy(cloud, "untouched")
    status, drifts = detect(cfn, "untouched")
    assert status["DetectionStatus"] == "DETECTION_COMPLETE"
    assert status["StackDriftStatus"] == "IN_SYNC"
    assert drifts["Queue"]["StackResourceDriftStatus"] == "IN_SYNC"
    assert drifts["Setting"]["StackResourceDriftStatus"] == "IN_SYNC", drifts["Setting"]
    assert drifts["Topic"]["StackResourceDriftStatus"] == "IN_SYNC"
    assert drifts["Bucket"]["StackResourceDriftStatus"] == "IN_SYNC"
    assert drifts["Repository"]["StackResourceDriftStatus"] == "NOT_CHECKED"


def test_changes_made_through_the_services_apis_show_with_both_values(
    cloud: LocalCloudProcess,
) -> None:
    cfn, physical = deploy(cloud, "changed")
    client(cloud, "sqs").set_queue_attributes(
        QueueUrl=physical["Queue"], Attributes={"VisibilityTimeout": "45"}
    )
    client(cloud, "ssm").put_parameter(Name=physical["Setting"], Value="red", Overwrite=True)

    status, drifts = detect(cfn, "changed")

    assert status["StackDriftStatus"] == "DRIFTED"
    assert status["DriftedStackResourceCount"] == 2  # the queue and the parameter
    assert drifts["Queue"]["StackResourceDriftStatus"] == "MODIFIED"
    assert drifts["Queue"]["PropertyDifferences"] == [
        {
            "PropertyPath": "/Properties/VisibilityTimeout",
            "ExpectedValue": "30",
            "ActualValue": "45",
            "DifferenceType": "NOT_EQUAL",
        }
    ]
    assert drifts["Setting"]["PropertyDifferences"][0]["ActualValue"] == "red"
    one = cfn.detect_stack_resource_drift(StackName="changed", LogicalResourceId="Queue")
    assert one["StackResourceDrift"]["StackResourceDriftStatus"] == "MODIFIED"
    only_modified = cfn.describe_stack_resource_drifts(
        StackName="changed", StackResourceDriftStatusFilters=["NOT_CHECKED"]
    )["StackResourceDrifts"]
    assert [d["LogicalResourceId"] for d in only_modified] == ["Repository"]


def test_a_deleted_queue_is_deleted(cloud: LocalCloudProcess) -> None:
    cfn, physical = deploy(cloud, "deleted")
    client(cloud, "sqs").delete_queue(QueueUrl=physical["Queue"])
    _, drifts = detect(cfn, "deleted")
    assert drifts["Queue"]["StackResourceDriftStatus"] == "DELETED"


def test_a_revert_drift_change_set_puts_the_template_values_back(
    cloud: LocalCloudProcess,
) -> None:
    cfn, physical = deploy(cloud, "reverted")
    sqs = client(cloud, "sqs")
    sqs.set_queue_attributes(QueueUrl=physical["Queue"], Attributes={"VisibilityTimeout": "45"})

    created = cfn.create_change_set(
        StackName="reverted",
        ChangeSetName="revert",
        ChangeSetType="UPDATE",
        UsePreviousTemplate=True,
        DeploymentMode="REVERT_DRIFT",
    )
    assert cfn.describe_change_set(ChangeSetName=created["Id"])["Status"] == "CREATE_COMPLETE"
    cfn.execute_change_set(ChangeSetName=created["Id"])
    settle(cfn, "reverted")

    attributes = sqs.get_queue_attributes(QueueUrl=physical["Queue"], AttributeNames=["All"])
    assert attributes["Attributes"]["VisibilityTimeout"] == "30"
    status, _ = detect(cfn, "reverted")
    assert status["StackDriftStatus"] == "IN_SYNC"
    again = cfn.create_change_set(
        StackName="reverted",
        ChangeSetName="revert-again",
        ChangeSetType="UPDATE",
        UsePreviousTemplate=True,
        DeploymentMode="REVERT_DRIFT",
    )
    described = cfn.describe_change_set(ChangeSetName=again["Id"])
    assert described["Status"] == "FAILED"
    assert "didn't contain changes" in described["StatusReason"]


def test_a_topics_display_name_drifts_and_reverts_and_a_deleted_bucket_is_deleted(
    cloud: LocalCloudProcess,
) -> None:
    cfn, physical = deploy(cloud, "storage")
    sns = client(cloud, "sns")
    sns.set_topic_attributes(
        TopicArn=physical["Topic"], AttributeName="DisplayName", AttributeValue="Renamed"
    )
    client(cloud, "s3").delete_bucket(Bucket=physical["Bucket"])

    _, drifts = detect(cfn, "storage")

    [name] = drifts["Topic"]["PropertyDifferences"]
    assert name["PropertyPath"] == "/Properties/DisplayName"
    assert (name["ExpectedValue"], name["ActualValue"]) == ("Orders", "Renamed")
    assert drifts["Bucket"]["StackResourceDriftStatus"] == "DELETED"
    created = cfn.create_change_set(
        StackName="storage",
        ChangeSetName="revert",
        ChangeSetType="UPDATE",
        UsePreviousTemplate=True,
        DeploymentMode="REVERT_DRIFT",
    )
    cfn.execute_change_set(ChangeSetName=created["Id"])
    settle(cfn, "storage")
    attributes = sns.get_topic_attributes(TopicArn=physical["Topic"])["Attributes"]
    assert attributes["DisplayName"] == "Orders"
    _, after = detect(cfn, "storage")
    assert after["Topic"]["StackResourceDriftStatus"] == "IN_SYNC"
    assert after["Bucket"]["StackResourceDriftStatus"] == "DELETED"  # not recreated, as on AWS
