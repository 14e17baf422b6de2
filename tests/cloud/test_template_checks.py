"""The local cloud refuses invalid templates within the request, in CloudFormation's words,
naming what is wrong, instead of accepting them and failing half-way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from baryon.cloud.process import LocalCloudProcess
from baryon.cloud.template_checks import (
    TemplateError,
    check_template,
    parse_template,
    read_template,
    rejection_message,
    unresolved_references,
)
from tests.support.invalid_templates import INVALID, QUEUE
from tests.support.local_cloud import client


@pytest.mark.parametrize("case", sorted(INVALID))
def test_each_invalid_template_is_refused_with_aws_text(case: str) -> None:
    template, message = INVALID[case]
    with pytest.raises(TemplateError) as refused:
        check_template(read_template(template) if isinstance(template, str) else template)
    assert str(refused.value) == message


def test_every_kind_of_reference_is_followed() -> None:
    template = {
        "Parameters": {"Size": {"Type": "String"}},
        "Resources": {
            "Queue": {
                **QUEUE,
                "DependsOn": ["Ghost"],
                "Properties": {
                    "QueueName": {"Fn::Sub": "${AWS::StackName}-${Size}-${Missing1}-${!Literal}"},
                    "Tags": [{"Key": "k", "Value": {"Ref": "Missing2"}}],
                },
            },
        },
        "Outputs": {
            "Fine": {"Value": {"Fn::Sub": ["${Queue.Arn}-${Local}", {"Local": {"Ref": "Size"}}]}},
            "Broken": {"Value": {"Ref": "Missing3"}},
        },
    }
    assert unresolved_references(template) == {
        "Resources": ["Ghost", "Missing1", "Missing2"],
        "Outputs": ["Missing3"],
    }
    assert rejection_message(unresolved_references(template)) == (
        "Template format error: Unresolved resource dependencies [Ghost, Missing1, Missing2] "
        "in the Resources block of the template"
    )


def test_pseudo_parameters_conditions_and_valid_intrinsics_pass() -> None:
    template = {
        "Conditions": {"Always": {"Fn::Equals": ["a", "a"]}},
        "Resources": {
            "Queue": {
                **QUEUE,
                "Condition": "Always",
                "Properties": {
                    "QueueName": {
                        "Fn::If": ["Always", {"Ref": "AWS::Region"}, {"Ref": "AWS::NoValue"}]
                    },
                    "DelaySeconds": {"Fn::Select": [0, {"Fn::Split": [",", "1,2"]}]},
                },
            },
            "Topic": {"Type": "AWS::SNS::Topic"},
        },
        "Outputs": {
            "Arn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}},
            # Any property of a registry type is an attribute, not only the read-only ones.
            "TopicName": {"Value": {"Fn::GetAtt": ["Topic", "TopicName"]}},
        },
    }
    check_template(template)


def test_yaml_short_forms_are_read_including_the_multi_line_getatt() -> None:
    text = """
AWSTemplateFormatVersion: 2010-09-09
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub '${AWS::StackName}-queue'
Outputs:
  Arn:
    Value: !GetAtt
      - Queue
      - Arn
  Name:
    Value: !Join ['-', [!Ref Queue, !GetAtt Queue.QueueName]]
"""
    template = parse_template(text)
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Outputs"]["Arn"]["Value"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    check_template(template)
    assert parse_template("{not: [valid") is None


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudProcess]:
    logs = tmp_path_factory.mktemp("template-checks-cloud")
    process = LocalCloudProcess(state_file=None, log_file=logs / "cloud.log")
    process.start()
    yield process
    process.stop()


def body(template: str | dict[str, Any]) -> str:
    return template if isinstance(template, str) else json.dumps(template)


def test_the_local_cloud_refuses_each_at_create_stack_and_creates_nothing(
    cloud: LocalCloudProcess,
) -> None:
    cloudformation = client(cloud, "cloudformation")
    for number, case in enumerate(sorted(INVALID)):
        template, message = INVALID[case]
        with pytest.raises(ClientError) as refused:
            cloudformation.create_stack(StackName=f"bad-{number}", TemplateBody=body(template))
        error = refused.value.response["Error"]
        assert (case, error["Code"], error["Message"]) == (case, "ValidationError", message)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    names = {s["StackName"] for s in cloudformation.list_stacks()["StackSummaries"]}
    assert not {name for name in names if name.startswith("bad-")}


def test_update_change_set_and_validate_refuse_them_too(cloud: LocalCloudProcess) -> None:
    cloudformation = client(cloud, "cloudformation")
    good = {"Resources": {"Queue": QUEUE}, "Outputs": {"Url": {"Value": {"Ref": "Queue"}}}}
    bad, message = INVALID["unknown_attribute"]
    cloudformation.create_stack(StackName="refs", TemplateBody=json.dumps(good))
    calls = {
        "UpdateStack": lambda: cloudformation.update_stack(
            StackName="refs", TemplateBody=body(bad)
        ),
        "CreateChangeSet": lambda: cloudformation.create_change_set(
            StackName="refs", ChangeSetName="c1", TemplateBody=body(bad), ChangeSetType="UPDATE"
        ),
        "ValidateTemplate": lambda: cloudformation.validate_template(TemplateBody=body(bad)),
    }
    for action, call in calls.items():
        with pytest.raises(ClientError) as refused:
            call()
        assert (action, refused.value.response["Error"]["Message"]) == (action, message)
    stack = cloudformation.describe_stacks(StackName="refs")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"


def test_validate_template_summarizes_a_valid_template(cloud: LocalCloudProcess) -> None:
    cloudformation = client(cloud, "cloudformation")
    template = {
        "Description": "a role and a queue",
        "Parameters": {"Size": {"Type": "Number", "Default": 3, "Description": "how many"}},
        "Resources": {
            "Queue": QUEUE,
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Statement": []}},
            },
        },
    }
    answer = cloudformation.validate_template(TemplateBody=json.dumps(template))
    assert answer["Description"] == "a role and a queue"
    assert answer["Parameters"] == [
        {"ParameterKey": "Size", "DefaultValue": "3", "NoEcho": False, "Description": "how many"}
    ]
    assert answer["Capabilities"] == ["CAPABILITY_IAM"]
    assert answer["CapabilitiesReason"] == (
        "The following resource(s) require capabilities: [AWS::IAM::Role]"
    )
