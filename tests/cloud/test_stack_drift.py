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
    # The deleted bucket was created again from the template, under its generated name.
    assert after["Bucket"]["StackResourceDriftStatus"] == "IN_SYNC"
    recreated = after["Bucket"]["PhysicalResourceId"]
    assert recreated in [b["Name"] for b in client(cloud, "s3").list_buckets()["Buckets"]]


def test_a_revert_drift_change_set_recreates_a_deleted_queue_as_the_template_says(
    cloud: LocalCloudProcess,
) -> None:
    cfn, physical = deploy(cloud, "recreated")
    sqs = client(cloud, "sqs")
    sqs.delete_queue(QueueUrl=physical["Queue"])

    created = cfn.create_change_set(
        StackName="recreated",
        ChangeSetName="revert",
        ChangeSetType="UPDATE",
        UsePreviousTemplate=True,
        DeploymentMode="REVERT_DRIFT",
    )
    assert cfn.describe_change_set(ChangeSetName=created["Id"])["Status"] == "CREATE_COMPLETE"
    cfn.execute_change_set(ChangeSetName=created["Id"])
    assert settle(cfn, "recreated") == "UPDATE_COMPLETE"

    _, after = detect(cfn, "recreated")
    assert after["Queue"]["StackResourceDriftStatus"] == "IN_SYNC"
    url = after["Queue"]["PhysicalResourceId"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert attributes["Attributes"]["VisibilityTimeout"] == "30"


# Types the AWS sample bundles deploy: IAM roles (with their inline policies), functions (SAM's
# too), ECS services, DynamoDB tables.
SAMPLE_TYPES = json.dumps(
    {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Description": "runs the function",
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "write-logs",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}
                                ],
                            },
                        },
                        {
                            "PolicyName": "read-queue",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {"Effect": "Allow", "Action": "sqs:Receive*", "Resource": "*"}
                                ],
                            },
                        },
                    ],
                },
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"ZipFile": "def handler(event, context):\n    return 1\n"},
                    "MemorySize": 256,
                    "Timeout": 10,
                    "Environment": {"Variables": {"STAGE": "prod"}},
                },
            },
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {}},
            "Task": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": "web",
                    "ContainerDefinitions": [{"Name": "web", "Image": "nginx", "Memory": 512}],
                },
            },
            "Service": {
                "Type": "AWS::ECS::Service",
                "Properties": {
                    "Cluster": {"Ref": "Cluster"},
                    "TaskDefinition": {"Ref": "Task"},
                    "DesiredCount": 2,
                },
            },
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                    "BillingMode": "PROVISIONED",
                    "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
                },
            },
        }
    }
)


@pytest.fixture(scope="module")
def samples(cloud: LocalCloudProcess) -> tuple[Any, dict[str, str]]:
    cfn = client(cloud, "cloudformation")
    cfn.create_stack(
        StackName="samples", TemplateBody=SAMPLE_TYPES, Capabilities=["CAPABILITY_IAM"]
    )
    assert settle(cfn, "samples") == "CREATE_COMPLETE"
    resources = cfn.describe_stack_resources(StackName="samples")["StackResources"]
    return cfn, {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}


def _differences(drifts: dict[str, dict[str, Any]], logical_id: str) -> dict[str, tuple[str, str]]:
    return {
        d["PropertyPath"]: (d["ExpectedValue"], d["ActualValue"])
        for d in drifts[logical_id].get("PropertyDifferences", [])
    }


def _revert(cfn: Any, name: str, change_set: str) -> None:
    created = cfn.create_change_set(
        StackName=name,
        ChangeSetName=change_set,
        ChangeSetType="UPDATE",
        UsePreviousTemplate=True,
        DeploymentMode="REVERT_DRIFT",
    )
    cfn.execute_change_set(ChangeSetName=created["Id"])
    settle(cfn, name)


def test_the_sample_types_nobody_touched_are_in_sync(
    samples: tuple[Any, dict[str, str]],
) -> None:
    cfn, _ = samples
    status, drifts = detect(cfn, "samples")
    checked = {"Role", "Function", "Service", "Table"}
    assert {k: drifts[k]["StackResourceDriftStatus"] for k in checked} == dict.fromkeys(
        checked, "IN_SYNC"
    ), drifts
    assert status["StackDriftStatus"] == "IN_SYNC"


def test_a_functions_memory_timeout_and_environment_drift_and_revert(
    cloud: LocalCloudProcess, samples: tuple[Any, dict[str, str]]
) -> None:
    cfn, physical = samples
    functions = client(cloud, "lambda")
    functions.update_function_configuration(
        FunctionName=physical["Function"],
        MemorySize=1024,
        Timeout=30,
        Environment={"Variables": {"STAGE": "debug"}},
    )

    _, drifts = detect(cfn, "samples")

    assert _differences(drifts, "Function") == {
        "/Properties/MemorySize": ("256", "1024"),
        "/Properties/Timeout": ("10", "30"),
        "/Properties/Environment/Variables/STAGE": ("prod", "debug"),
    }
    _revert(cfn, "samples", "revert-function")
    live = functions.get_function_configuration(FunctionName=physical["Function"])
    assert (live["MemorySize"], live["Timeout"]) == (256, 10)
    assert live["Environment"]["Variables"] == {"STAGE": "prod"}


def test_an_ecs_services_desired_count_drifts_and_reverts(
    cloud: LocalCloudProcess, samples: tuple[Any, dict[str, str]]
) -> None:
    cfn, physical = samples
    ecs = client(cloud, "ecs")
    ecs.update_service(cluster=physical["Cluster"], service=physical["Service"], desiredCount=5)

    _, drifts = detect(cfn, "samples")

    assert _differences(drifts, "Service") == {"/Properties/DesiredCount": ("2", "5")}
    _revert(cfn, "samples", "revert-service")
    [service] = ecs.describe_services(cluster=physical["Cluster"], services=[physical["Service"]])[
        "services"
    ]
    assert service["desiredCount"] == 2


def test_a_tables_throughput_drifts_and_reverts(
    cloud: LocalCloudProcess, samples: tuple[Any, dict[str, str]]
) -> None:
    cfn, physical = samples
    dynamodb = client(cloud, "dynamodb")
    dynamodb.update_table(
        TableName=physical["Table"],
        ProvisionedThroughput={"ReadCapacityUnits": 50, "WriteCapacityUnits": 5},
    )

    _, drifts = detect(cfn, "samples")

    assert _differences(drifts, "Table") == {
        "/Properties/ProvisionedThroughput/ReadCapacityUnits": ("5", "50")
    }
    _revert(cfn, "samples", "revert-table")
    table = dynamodb.describe_table(TableName=physical["Table"])["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5


def test_a_roles_inline_policy_and_description_drift_and_revert(
    cloud: LocalCloudProcess, samples: tuple[Any, dict[str, str]]
) -> None:
    cfn, physical = samples
    iam = client(cloud, "iam")
    wider = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(
        RoleName=physical["Role"], PolicyName="write-logs", PolicyDocument=json.dumps(wider)
    )
    iam.update_role(RoleName=physical["Role"], Description="changed by hand")

    _, drifts = detect(cfn, "samples")

    found = _differences(drifts, "Role")
    assert found["/Properties/Description"] == ("runs the function", "changed by hand")
    # Policies are compared by name whatever the template's order: write-logs is the second.
    assert found["/Properties/Policies/1/PolicyDocument/Statement/0/Action"] == ("logs:*", "*")
    assert len(found) == 2, found
    _revert(cfn, "samples", "revert-role")
    role = iam.get_role(RoleName=physical["Role"])["Role"]
    assert role["Description"] == "runs the function"
    document = iam.get_role_policy(RoleName=physical["Role"], PolicyName="write-logs")
    assert document["PolicyDocument"]["Statement"][0]["Action"] == "logs:*"
    status, _ = detect(cfn, "samples")
    assert status["StackDriftStatus"] == "IN_SYNC"
